-- Object-store settings: one GUC per setting the CLI's --config accepts.
SELECT name, context, short_desc IS NOT NULL AS described
  FROM pg_settings WHERE name ~ '^pgvault\.(s3|azure|gcs|storage)_' ORDER BY name;
-- Secret settings (key, secret, token) are not in pg_settings at all, even
-- for superusers; SHOW answers with a mask once they are set.
SELECT count(*) AS secrets_in_pg_settings FROM pg_settings
 WHERE name ~ '^pgvault\.(s3|azure|gcs|storage)_.*(key|secret|token)'
    OR name = 'pgvault.encryption_passphrase';
SHOW pgvault.s3_secret_access_key;
ALTER SYSTEM SET pgvault.s3_secret_access_key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
SELECT pg_reload_conf();
-- A new session sees the reloaded file: the postmaster handles the SIGHUP
-- that pg_reload_conf() sent before it accepts the next connection (this
-- session would apply it only whenever the signal reaches it).
\c
SHOW pgvault.s3_secret_access_key;
SELECT current_setting('pgvault.s3_secret_access_key');
-- Other roles cannot read them at all.
CREATE ROLE vault_reader;
SET ROLE vault_reader;
SHOW pgvault.s3_secret_access_key;
SHOW pgvault.azure_key;
SHOW pgvault.s3_region;  -- not a secret
RESET ROLE;
DROP ROLE vault_reader;
ALTER SYSTEM RESET pgvault.s3_secret_access_key;
SELECT pg_reload_conf();
-- Bad values say what is allowed; a bad secret is never echoed.
ALTER SYSTEM SET pgvault.s3_part_size = '1MB';
ALTER SYSTEM SET pgvault.s3_part_size = '16 parsecs';
ALTER SYSTEM SET pgvault.s3_parts_in_flight = 0;
ALTER SYSTEM SET pgvault.s3_uri_style = 'virtual';
ALTER SYSTEM SET pgvault.s3_endpoint = 'minio:9000';
ALTER SYSTEM SET pgvault.s3_endpoint = 'http://minio:9000/bucket';
ALTER SYSTEM SET pgvault.storage_verify_tls = 'maybe';
ALTER SYSTEM SET pgvault.storage_connect_timeout = '0';
ALTER SYSTEM SET pgvault.azure_key = 'this is not base64 and is secret';
ALTER SYSTEM SET pgvault.s3_regoin = 'eu-west-1';
-- Good values are accepted (and reset again).
ALTER SYSTEM SET pgvault.s3_part_size = '64MB';
ALTER SYSTEM SET pgvault.s3_endpoint = 'http://127.0.0.1:9000';
ALTER SYSTEM SET pgvault.azure_endpoint = 'http://127.0.0.1:10000/devstoreaccount1';
ALTER SYSTEM SET pgvault.storage_stall_timeout = '2min';
ALTER SYSTEM RESET pgvault.s3_part_size;
ALTER SYSTEM RESET pgvault.s3_endpoint;
ALTER SYSTEM RESET pgvault.azure_endpoint;
ALTER SYSTEM RESET pgvault.storage_stall_timeout;
-- Reload-only, like every repository setting.
SET pgvault.s3_region = 'eu-west-1';
