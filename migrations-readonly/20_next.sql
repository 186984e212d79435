-- What boulder_sa_next (Boulder's config-next, sa/db/01-boulder_sa_next.sql, after the shared
-- part) changes in the tables read here.
ALTER TABLE certificateStatus DROP COLUMN subscriberApproved, DROP COLUMN LockCol;
ALTER TABLE revokedCertificates ADD KEY serial (serial);
ALTER TABLE orders
  ADD COLUMN mtcLogID varchar(255) DEFAULT NULL,
  ADD COLUMN mtcSerialNumber bigint(20) unsigned DEFAULT NULL;
ALTER TABLE authz2 ADD COLUMN beganProcessing tinyint(1) NOT NULL DEFAULT 0;
