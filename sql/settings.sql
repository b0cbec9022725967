-- Bad values are refused with what is wrong and what is allowed.
ALTER SYSTEM SET pgvault.compression = 'brotli';
ALTER SYSTEM SET pgvault.compression_level = 30;
ALTER SYSTEM SET pgvault.compression_workers = 65;
ALTER SYSTEM SET pgvault.repository = 'relative/path';
ALTER SYSTEM SET pgvault.repository = 'ftp://backups.example.com/x';
ALTER SYSTEM SET pgvault.repository = 's3://Bad_Bucket/prefix';
ALTER SYSTEM SET pgvault.repository = 'azure://container/prefix/';
ALTER SYSTEM SET pgvault.replication_conninfo = 'host=/tmp port';
ALTER SYSTEM SET pgvault.replication_conninfo = 'host=/tmp user=backup password=hunter2';
ALTER SYSTEM SET pgvault.max_rate = '10kB';
-- Settings that take effect on reload cannot be changed per session.
SET pgvault.compression = 'lz4';
-- Good values are accepted (and reset again).
ALTER SYSTEM SET pgvault.compression = 'lz4';
ALTER SYSTEM SET pgvault.compression_level = 9;
ALTER SYSTEM SET pgvault.compression_workers = 4;
ALTER SYSTEM SET pgvault.repository = 'file:///var/backups/pgvault';
ALTER SYSTEM SET pgvault.repository = 's3://backups/prod/db1';
ALTER SYSTEM SET pgvault.repository = 'azure://backups';
ALTER SYSTEM SET pgvault.repository = 'gs://my-backups/pg';
ALTER SYSTEM SET pgvault.max_rate = '64MB';
ALTER SYSTEM RESET pgvault.compression;
ALTER SYSTEM RESET pgvault.compression_level;
ALTER SYSTEM RESET pgvault.compression_workers;
ALTER SYSTEM RESET pgvault.repository;
ALTER SYSTEM RESET pgvault.max_rate;
-- Any other pgvault.* name is a typo, not a new setting.
SET pgvault.compresion = 'zstd';
