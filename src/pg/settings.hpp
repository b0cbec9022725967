// pgvault's GUCs (postgresql.conf settings). Defined in settings.cpp.
#pragma once

namespace pgvault::pg {

extern char* guc_repository;
extern char* guc_database;
extern int guc_compression;  // a pgvault::Compression value
extern int guc_compression_level;
extern int guc_compression_workers;
extern char* guc_replication_conninfo;
extern char* guc_encryption_key_file;
extern char* guc_encryption_passphrase;
extern int guc_max_rate_kb;
extern char* guc_schedule;
extern char* guc_logical_schedule;
extern char* guc_logical_database;
extern char* guc_verify_schedule;
extern bool guc_enabled;
extern char* guc_timezone;
extern int guc_catchup_window_s;
extern int guc_retry_max;
extern int guc_retry_delay_s;
extern int guc_retention_days;
extern int guc_retention_count;

void define_settings();

}  // namespace pgvault::pg
