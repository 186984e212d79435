-- The tables of Boulder's boulder_sa schema that wile-e-coyote reads (columns it does not
-- read are kept where they shape the rows, so fixtures look like the real thing).

CREATE TABLE registrations (
  id BIGINT(20) NOT NULL AUTO_INCREMENT,
  jwk MEDIUMBLOB NOT NULL,
  jwk_sha256 VARCHAR(255) NOT NULL,
  agreement VARCHAR(255) NOT NULL DEFAULT '',
  createdAt DATETIME NOT NULL,
  status VARCHAR(255) NOT NULL DEFAULT 'valid',
  PRIMARY KEY (id),
  UNIQUE KEY jwk_sha256 (jwk_sha256)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- status: 0 pending, 1 valid, 2 invalid, 3 deactivated, 4 revoked.
-- challenges: bitmap 1<<type, type 0 http-01, 1 dns-01, 2 tls-alpn-01.
CREATE TABLE authz2 (
  id BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  identifierType TINYINT(4) NOT NULL,
  identifierValue VARCHAR(255) NOT NULL,
  registrationID BIGINT(20) NOT NULL,
  certificateProfileName VARCHAR(32) DEFAULT NULL,
  status TINYINT(4) NOT NULL,
  expires DATETIME NOT NULL,
  challenges TINYINT(4) NOT NULL,
  attempted TINYINT(4) DEFAULT NULL,
  attemptedAt DATETIME DEFAULT NULL,
  token BINARY(32) NOT NULL,
  validationError MEDIUMBLOB DEFAULT NULL,
  validationRecord MEDIUMBLOB DEFAULT NULL,
  created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  KEY regID_expires_idx (registrationID, status, expires),
  KEY regID_identifier_status_expires_idx (registrationID, identifierType, identifierValue, status, expires),
  KEY expires_idx (expires)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- An order has no status column: Boulder derives it from its authorizations and fields.
CREATE TABLE orders (
  id BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  registrationID BIGINT(20) NOT NULL,
  expires DATETIME NOT NULL,
  error MEDIUMBLOB DEFAULT NULL,
  certificateSerial VARCHAR(255) DEFAULT NULL,
  beganProcessing TINYINT(1) NOT NULL DEFAULT 0,
  created DATETIME NOT NULL,
  certificateProfileName VARCHAR(32) DEFAULT NULL,
  replaces VARCHAR(255) DEFAULT NULL,
  PRIMARY KEY (id),
  KEY reg_expires (registrationID, expires),
  KEY regID_created_idx (registrationID, created)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE certificates (
  id BIGINT(20) NOT NULL AUTO_INCREMENT,
  registrationID BIGINT(20) NOT NULL,
  serial VARCHAR(255) NOT NULL,
  digest VARCHAR(255) NOT NULL,
  der MEDIUMBLOB NOT NULL,
  issued DATETIME NOT NULL,
  expires DATETIME NOT NULL,
  PRIMARY KEY (id),
  KEY regId_certificates_idx (registrationID, issued),
  KEY serial (serial),
  KEY issued_idx (issued)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- status: 'good' or 'revoked'.
CREATE TABLE certificateStatus (
  id BIGINT(20) NOT NULL AUTO_INCREMENT,
  serial VARCHAR(255) NOT NULL,
  status VARCHAR(255) NOT NULL,
  ocspLastUpdated DATETIME NOT NULL,
  revokedDate DATETIME NOT NULL,
  revokedReason INT(11) NOT NULL,
  lastExpirationNagSent DATETIME NOT NULL,
  notAfter DATETIME DEFAULT NULL,
  isExpired TINYINT(1) DEFAULT 0,
  issuerID BIGINT(20) DEFAULT NULL,
  PRIMARY KEY (id),
  KEY serial (serial),
  KEY isExpired_ocspLastUpdated_idx (isExpired, ocspLastUpdated),
  KEY notAfter_idx (notAfter)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE serials (
  id BIGINT(20) NOT NULL AUTO_INCREMENT,
  registrationID BIGINT(20) NOT NULL,
  serial VARCHAR(255) NOT NULL,
  created DATETIME NOT NULL,
  expires DATETIME NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY serial (serial),
  KEY regId_serials_idx (registrationID)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
