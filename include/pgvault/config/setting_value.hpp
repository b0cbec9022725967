// The values of pgvault.* settings, wherever they come from (a
// postgresql.conf-syntax file, the environment, the server's GUCs): which
// may never be shown, and how sizes, counts, durations and booleans are
// written. Every error names the setting as pgvault.<name> and shows the
// value only when it is not a secret.
#pragma once
#include "pgvault/pg_free.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace pgvault {

// Setting name WITHOUT the "pgvault." prefix (lower case) -> value.
using SettingValues = std::map<std::string, std::string>;

// True when the value of this setting must never be shown (names containing
// key, secret, token, password or passphrase).
bool is_secret_setting(std::string_view name);

// The value as a message may show it: quoted, or <hidden> for a secret.
std::string shown_setting_value(std::string_view name, std::string_view value);

// Throws Error(invalid_argument): invalid value <shown> for pgvault.<name>: <why>.
[[noreturn]] void bad_setting_value(std::string_view name, std::string_view value,
                                    std::string_view why);

// The value of name in settings, "" when it is not there.
std::string setting_or_empty(const SettingValues& settings, std::string_view name);

// The parsers below accept white space around the value and, for units,
// between the number and the unit; units are case-insensitive.

// "16MB", "8 MiB", "1048576" (bytes); units B, kB, MB, GB, TB (1024-based,
// "KiB" style accepted).
std::uint64_t parse_size_setting(std::string_view name, std::string_view value);
// A whole number (an int).
int parse_int_setting(std::string_view name, std::string_view value);
// Milliseconds of "10s", "500ms", "2min", "1h"; a bare number is seconds.
std::uint64_t parse_duration_ms_setting(std::string_view name, std::string_view value);
// on/off, true/false, yes/no, 1/0.
bool parse_bool_setting(std::string_view name, std::string_view value);

}  // namespace pgvault
