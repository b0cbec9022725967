#include "text_output.hpp"

#include <cstdio>

namespace pgvault::cli {

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string format_seconds(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  return buf;
}

std::string describe_backup(const BackupMeta& meta) {
  return "(" + meta.kind + ", PostgreSQL " + std::to_string(meta.pg_version / 10000) + "." +
         std::to_string(meta.pg_version % 100) + ", system " + meta.system_identifier +
         ", completed " + or_dash(meta.completed_at) + ")";
}

}  // namespace pgvault::cli
