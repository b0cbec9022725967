#include "text_output.hpp"

#include <atomic>
#include <cstdio>
#include <iostream>

namespace pgvault::cli {
namespace {

// Atomic: a restore's reading threads may warn while the main thread runs.
std::atomic<bool> warnings_quiet{false};

}  // namespace

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

void warn(std::string_view message) {
  if (warnings_quiet.load()) return;
  std::cout << std::flush;  // the warning after what was said before it
  std::cerr << "pgvault: warning: " << message << "\n" << std::flush;
}

QuietWarnings::QuietWarnings(bool quiet) : saved_(warnings_quiet.load()) {
  if (quiet) warnings_quiet.store(true);
}

QuietWarnings::~QuietWarnings() {
  warnings_quiet.store(saved_);
}

}  // namespace pgvault::cli
