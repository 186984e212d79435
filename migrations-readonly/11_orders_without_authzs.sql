-- Boulder before December 2025 (978877a): orders had no authzs column at all; orderToAuthz2
-- (10_order_to_authz2.sql) was the only link.
ALTER TABLE orders DROP COLUMN authzs;
