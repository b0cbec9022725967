// How the commands write what they did, the same way in every command.
#pragma once

#include "pgvault/catalog/backup_meta.hpp"

#include <string>
#include <string_view>

namespace pgvault::cli {

// "-" for an empty value (a table cell, a time not recorded).
std::string or_dash(const std::string& s);

// "12.3 s".
std::string format_seconds(double seconds);

// "(physical, PostgreSQL 15.5, system 7301..., completed 2026-...)": what a
// command says about the backup it works on.
std::string describe_backup(const BackupMeta& meta);

// "pgvault: warning: MESSAGE" on standard error: every warning of every
// command goes through here, so --quiet can hold them all back.
void warn(std::string_view message);

// While it lives, warn() prints nothing (--quiet: nothing but errors).
class QuietWarnings {
 public:
  explicit QuietWarnings(bool quiet);
  ~QuietWarnings();
  QuietWarnings(const QuietWarnings&) = delete;
  QuietWarnings& operator=(const QuietWarnings&) = delete;

 private:
  bool saved_;
};

}  // namespace pgvault::cli
