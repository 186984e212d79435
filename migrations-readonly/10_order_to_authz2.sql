-- The older link from orders to their authorizations (Boulder until 2026): one row per
-- (order, authorization). From December 2025 (Boulder 978877a) new orders also carried
-- orders.authzs and the SA read this table only for orders whose authzs was NULL, a
-- per-order fallback; January 2026 removed that read (7113031), then the table (db38c3d).
-- This is the table as Boulder's sa/db declared it (20230419000000_CombinedSchema.sql at
-- db38c3d^); the sa/db-next variant had an auto-increment id primary key and separate
-- orderID and authzID keys, which reads the same.
CREATE TABLE orderToAuthz2 (
  orderID bigint(20) NOT NULL,
  authzID bigint(20) NOT NULL,
  PRIMARY KEY (orderID, authzID),
  KEY authzID (authzID)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
