-- Master key rotation (wallets.keystore): a PIN's pepper names the master key it comes from, in a column the
-- start-up check and `indexbot keys rotate` read like wallets.key_id. A PIN set under the current key has no
-- `pepper` (it is derived from that key); one carried over by a rotation keeps its old pepper, sealed
-- (AES-256-GCM, nonce || ciphertext, AAD = user id) under the key `key_id` names.
ALTER TABLE pins ADD COLUMN key_id TEXT;
ALTER TABLE pins ADD COLUMN pepper BLOB;
UPDATE pins SET key_id = json_extract(params, '$.pepper');
