-- Boulder's boulder_sa schema as of letsencrypt/boulder 2d00c8e (August 2026), restricted to the
-- tables wile-e-coyote reads: every column, type, NULL-ability, default and index of those
-- tables as Boulder declares them (sa/db/01-boulder_sa.sql), so that fixtures have the shape,
-- the row width and the query plans of the real thing. Written for the tests' fixtures; the tool
-- never runs it. Table order: alphabetical, as in Boulder's file.

-- Authorizations. identifierType: 0 dns, 1 ip. status: 0 pending, 1 valid, 2 invalid,
-- 3 deactivated, 4 revoked. challenges: a bitmap with bit (1 << type) set for each offered
-- challenge type, type 0 http-01, 1 dns-01, 2 tls-alpn-01, 3 dns-account-01, 4 dns-persist-01.
-- attempted: the type that was tried, same numbering. Wildcard names are stored with their
-- "*." prefix (the WFE strips it and says "wildcard": true). Boulder sets expires to the
-- pending lifetime at creation and to the valid lifetime when validation succeeds. created
-- was added late (2025) and is NULL-able: older rows have none.
CREATE TABLE authz2 (
  id                     bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  identifierType         tinyint(4)          NOT NULL,
  identifierValue        varchar(255)        NOT NULL,
  registrationID         bigint(20)          NOT NULL,
  status                 tinyint(4)          NOT NULL,
  expires                datetime            NOT NULL,
  challenges             tinyint(4)          NOT NULL,
  attempted              tinyint(4)          DEFAULT NULL,
  attemptedAt            datetime            DEFAULT NULL,
  token                  binary(32)          NOT NULL,
  validationError        mediumblob          DEFAULT NULL,
  validationRecord       mediumblob          DEFAULT NULL,
  certificateProfileName varchar(32)         DEFAULT NULL,
  created                datetime            DEFAULT current_timestamp(),
  PRIMARY KEY (id),
  KEY regID_expires_idx (registrationID, status, expires),
  KEY regID_identifier_status_expires_idx (registrationID, identifierType, identifierValue, status, expires),
  KEY expires_idx (expires)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- Keys that may no longer be used (a revocation signed by the certificate's own key adds its
-- SPKI hash here). keyHash: SHA-256 of the SubjectPublicKeyInfo. source: who added it,
-- 1 the API, 2 the admin tool. revokedBy: the account that asked, 0 when none.
CREATE TABLE blockedKeys (
  id                        bigint(20)   NOT NULL AUTO_INCREMENT,
  keyHash                   binary(32)   NOT NULL,
  added                     datetime     NOT NULL,
  source                    tinyint(4)   NOT NULL,
  comment                   varchar(255) DEFAULT NULL,
  revokedBy                 bigint(20)   DEFAULT 0,
  extantCertificatesChecked tinyint(1)   DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY keyHash (keyHash),
  KEY extantCertificatesChecked_idx (extantCertificatesChecked)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- One row per issued certificate (written with the final certificate). status: 'good' or
-- 'revoked'; revokedReason: the RFC 5280 reason code (0 while good); revokedDate and
-- lastExpirationNagSent hold the zero date until set. subscriberApproved, LockCol and
-- ocspResponse are leftovers Boulder no longer uses (boulder_sa_next drops the first two).
CREATE TABLE certificateStatus (
  id                    bigint(20)   NOT NULL AUTO_INCREMENT,
  serial                varchar(255) NOT NULL,
  subscriberApproved    tinyint(1)   DEFAULT 0,
  status                varchar(255) NOT NULL,
  ocspLastUpdated       datetime     NOT NULL,
  revokedDate           datetime     NOT NULL,
  revokedReason         int(11)      NOT NULL,
  lastExpirationNagSent datetime     NOT NULL,
  LockCol               bigint(20)   DEFAULT 0,
  ocspResponse          blob         DEFAULT NULL,
  notAfter              datetime     DEFAULT NULL,
  isExpired             tinyint(1)   DEFAULT 0,
  issuerID              bigint(20)   DEFAULT NULL,
  PRIMARY KEY (id),
  KEY isExpired_ocspLastUpdated_idx (isExpired, ocspLastUpdated),
  KEY notAfter_idx (notAfter),
  KEY serial (serial)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- Final certificates. serial: 36 lowercase hex digits (older ones 32); digest: unpadded
-- base64url of the SHA-256 of der; issued: the CA's clock at issuance, so it grows with id. The only
-- registrationID index is on that column alone.
CREATE TABLE certificates (
  id             bigint(20)   NOT NULL AUTO_INCREMENT,
  registrationID bigint(20)   NOT NULL,
  serial         varchar(255) NOT NULL,
  digest         varchar(255) NOT NULL,
  der            mediumblob   NOT NULL,
  issued         datetime     NOT NULL,
  expires        datetime     NOT NULL,
  PRIMARY KEY (id),
  KEY regId_certificates_idx (registrationID) COMMENT 'Common lookup',
  KEY issued_idx (issued),
  KEY serial (serial)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- The set of identifiers of each certificate, for the duplicate-certificate limit. setHash:
-- SHA-256 of the normalized (lowercased, sorted, de-duplicated) values joined by ",".
CREATE TABLE fqdnSets (
  id      bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  setHash binary(32)          NOT NULL,
  serial  varchar(255)        NOT NULL,
  issued  datetime            NOT NULL,
  expires datetime            NOT NULL,
  PRIMARY KEY (id),
  KEY setHash_issued_idx (setHash, issued),
  KEY serial (serial)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- One row per identifier of each certificate. reversedName: a DNS name's labels in reverse
-- order ("com.example.www"), an IP address in its usual text form. notBefore: the
-- certificate's, truncated to the day. renewal: 1 when fqdnSets already held the same set of
-- identifiers when the certificate was stored.
CREATE TABLE issuedNames (
  id           bigint(20)   NOT NULL AUTO_INCREMENT,
  reversedName varchar(640) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  notBefore    datetime     NOT NULL,
  serial       varchar(255) NOT NULL,
  renewal      tinyint(1)   NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY reversedName_notBefore_Idx (reversedName, notBefore)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- Which certificates use a key. keyHash: SHA-256 of the certificate's SubjectPublicKeyInfo.
CREATE TABLE keyHashToSerial (
  id           bigint(20)   NOT NULL AUTO_INCREMENT,
  keyHash      binary(32)   NOT NULL,
  certNotAfter datetime     NOT NULL,
  certSerial   varchar(255) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY unique_keyHash_certserial (keyHash, certSerial),
  KEY keyHash_certNotAfter (keyHash, certNotAfter)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- Orders. There is no status column: Boulder derives the status from the authorizations, the
-- error, beganProcessing and certificateSerial. authzs: the ids of the order's authorizations,
-- the protobuf message sa/proto/sadb.proto `Authzs { repeated int64 authzIDs = 1; }` (packed,
-- no duplicates); NULL for orders written before the column existed, whose authorizations
-- are in the older orderToAuthz2 table (10_order_to_authz2.sql). replaces: the ARI certID of
-- the certificate the order replaces; current Boulder writes '' (not NULL) when there is none,
-- and certificateProfileName may be '' too. An order expires no later than its earliest
-- authorization.
CREATE TABLE orders (
  id                     bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  registrationID         bigint(20)          NOT NULL,
  expires                datetime            NOT NULL,
  error                  mediumblob          DEFAULT NULL,
  certificateSerial      varchar(255)        DEFAULT NULL,
  beganProcessing        tinyint(1)          NOT NULL DEFAULT 0,
  created                datetime            NOT NULL,
  certificateProfileName varchar(32)         DEFAULT NULL,
  replaces               varchar(255)        DEFAULT NULL,
  authzs                 blob                DEFAULT NULL,
  PRIMARY KEY (id),
  KEY reg_expires (registrationID, expires),
  KEY regID_created_idx (registrationID, created)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- Accounts: only the public key (jwk, JSON) and its SHA-256 (jwk_sha256, base64) are stored.
-- status: 'valid' or 'deactivated' (also 'revoked'). agreement has no default.
CREATE TABLE registrations (
  id         bigint(20)   NOT NULL AUTO_INCREMENT,
  jwk        mediumblob   NOT NULL,
  jwk_sha256 varchar(255) NOT NULL,
  agreement  varchar(255) NOT NULL,
  createdAt  datetime     NOT NULL,
  status     varchar(255) NOT NULL DEFAULT 'valid',
  PRIMARY KEY (id),
  UNIQUE KEY jwk_sha256 (jwk_sha256)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

-- Orders carrying an ARI `replaces`: serial is the replaced certificate's, orderID the new
-- order's; replaced turns 1 once the new order is finalized.
CREATE TABLE replacementOrders (
  id           bigint(20)   NOT NULL AUTO_INCREMENT,
  serial       varchar(255) NOT NULL,
  orderID      bigint(20)   NOT NULL,
  orderExpires datetime     NOT NULL,
  replaced     tinyint(1)   DEFAULT 0,
  PRIMARY KEY (id),
  KEY serial_idx (serial),
  KEY orderID_idx (orderID)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- Revocations, by CRL shard. notAfterHour: the certificate's notAfter plus an hour, truncated
-- to the hour (the first full hour after it).
-- No index on serial here (boulder_sa_next adds one).
CREATE TABLE revokedCertificates (
  id            bigint(20)   NOT NULL AUTO_INCREMENT,
  issuerID      bigint(20)   NOT NULL,
  serial        varchar(255) NOT NULL,
  notAfterHour  datetime     NOT NULL,
  shardIdx      bigint(20)   NOT NULL,
  revokedDate   datetime     NOT NULL,
  revokedReason int(11)      NOT NULL,
  PRIMARY KEY (id),
  KEY issuerID_shardIdx_notAfterHour_idx (issuerID, shardIdx, notAfterHour)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;

-- Every serial the CA handed out (written before the precertificate is signed).
CREATE TABLE serials (
  id             bigint(20)   NOT NULL AUTO_INCREMENT,
  registrationID bigint(20)   NOT NULL,
  serial         varchar(255) NOT NULL,
  created        datetime     NOT NULL,
  expires        datetime     NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY serial (serial),
  KEY regId_serials_idx (registrationID)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;
