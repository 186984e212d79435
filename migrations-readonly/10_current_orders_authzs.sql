-- Current Boulder: an order lists its authorizations in a blob, the protobuf message
-- Authzs { repeated int64 authzIDs = 1; }.
ALTER TABLE orders ADD COLUMN authzs BLOB DEFAULT NULL;
