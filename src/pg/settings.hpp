// pgvault's GUCs (postgresql.conf settings). Defined in settings.cpp.
#pragma once

namespace pgvault::pg {

extern char* guc_repository;
extern char* guc_database;
extern int guc_compression;  // a pgvault::Compression value
extern int guc_compression_level;
extern char* guc_replication_conninfo;
extern int guc_max_rate_kb;

void define_settings();

}  // namespace pgvault::pg
