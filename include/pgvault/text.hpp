// Small text helpers shared by the core. ASCII only and locale-independent:
// PostgreSQL sets LC_CTYPE from the database, so std::tolower/std::isspace
// may treat bytes above 0x7f as letters or spaces inside the server.
#pragma once
#include "pgvault/pg_free.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace pgvault {

// A byte count for people, exactly as PostgreSQL's pg_size_pretty writes it,
// so that the CLI and the SQL API show the same figure: "512 bytes",
// "9482 kB", "12 GB" (1024-based units bytes, kB, MB, GB, TB, PB; an integer,
// half rounded; a unit is used up to 20479 half units, e.g. up to 10239 kB).
std::string human_size(std::uint64_t bytes);

// Levenshtein distance (insertions, deletions, substitutions of bytes): how
// far a mistyped name is from a known one, for "did you mean ...?".
std::size_t edit_distance(std::string_view a, std::string_view b);

// A-Z to a-z; every other byte unchanged.
std::string ascii_lower(std::string_view s);
// a-z to A-Z; every other byte unchanged.
std::string ascii_upper(std::string_view s);
// a and b equal but for the case of ASCII letters.
bool ascii_iequals(std::string_view a, std::string_view b);

// True when s is not empty and every byte is 0-9.
bool all_digits(std::string_view s);

// Unsigned decimal as repository objects write it: no sign, no leading zeros
// (0 itself allowed). False when malformed or out of T's range.
template <typename T>
bool parse_unsigned_decimal(std::string_view s, T& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0') || !all_digits(s)) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// True for the ASCII white space characters: ' ', '\t', '\n', '\v', '\f', '\r'.
bool is_ascii_space(char c);
// s without leading and trailing ASCII white space (is_ascii_space).
std::string_view trim(std::string_view s);
// trim(s) with every inner run of ASCII white space made one space
// (SigV4's Trimall; error texts read from XML).
std::string collapse_spaces(std::string_view s);

// s between double quotes, as messages name paths and objects: "a/b". No
// escaping: for text that came from outside, use quote_untrusted.
std::string quoted(std::string_view s);

// Text from a repository listing or a command line as error messages show it
// between double quotes: printable ASCII kept, '"' and '\' and every other
// byte as \xHH, at most 100 bytes then "...".
std::string quote_untrusted(std::string_view text);

// Lower-case hexadecimal of the bytes, two digits each: "\x01\xab" -> "01ab".
std::string hex(std::string_view bytes);
std::string hex(std::span<const std::byte> bytes);
// The value of a hexadecimal digit (either case), or -1.
int hex_digit_value(char c);

}  // namespace pgvault
