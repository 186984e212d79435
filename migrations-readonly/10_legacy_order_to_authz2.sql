-- Older Boulder: a join table from orders to authz2.
CREATE TABLE orderToAuthz2 (
  orderID BIGINT(20) NOT NULL,
  authzID BIGINT(20) UNSIGNED NOT NULL,
  PRIMARY KEY (orderID, authzID),
  KEY authzID (authzID)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
