// Text helpers (pgvault/text.hpp): byte counts for people, ASCII case and
// white space, quoting and hexadecimal.
#include "pgvault/text.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <span>
#include <utility>

using namespace pgvault;

// human_size is PostgreSQL 15's pg_size_pretty. Every expected text below
// is what `SELECT v, pg_size_pretty(v)` printed on a PostgreSQL 15.x server
// for v (the units' edges, their half rounding, PB as the last unit);
// test/t/063_cli_info.pl compares the two on a real backup too.
TEST(HumanSize, IsPgSizePretty) {
  const std::pair<std::uint64_t, const char*> server[] = {
      {0, "0 bytes"},
      {1, "1 bytes"},
      {24, "24 bytes"},
      {1023, "1023 bytes"},
      {1024, "1024 bytes"},
      {1536, "1536 bytes"},
      {10239, "10239 bytes"},
      {10240, "10 kB"},
      {10752, "11 kB"},
      {10753, "11 kB"},
      {1572864, "1536 kB"},
      {8388608, "8192 kB"},
      {9709568, "9482 kB"},
      {10485247, "10239 kB"},
      {10485248, "10 MB"},
      {10485760, "10 MB"},
      {20970496, "20 MB"},
      {31457280, "30 MB"},
      {4194304000, "4000 MB"},
      {10737418239, "10 GB"},
      {10737418240, "10 GB"},
      {10737418752, "10 GB"},
      {12884901888, "12 GB"},
      {10995116277759, "10 TB"},
      {10995116277760, "10 TB"},
      {109951162777600, "100 TB"},
      {3377699720527872, "3072 TB"},
      {11258999068426239, "10 PB"},
      {11258999068426240, "10 PB"},
      {4611686018427387904, "4096 PB"},
  };
  for (const auto& [bytes, text] : server) EXPECT_EQ(human_size(bytes), text) << bytes;
}

TEST(HumanSize, BeyondBigintStaysInPetabytes) {
  // pg_size_pretty(bigint) stops at 2^63 - 1; PB stays the last unit above it.
  EXPECT_EQ(human_size(~std::uint64_t{0}), "16384 PB");
}

TEST(AsciiCase, OnlyAsciiLettersChange) {
  EXPECT_EQ(ascii_lower("Content-MD5 X-Amz-Date"), "content-md5 x-amz-date");
  EXPECT_EQ(ascii_upper("s3_uri_style-9"), "S3_URI_STYLE-9");
  // Bytes above 0x7f (Latin-1 "À", UTF-8 "É") are left alone whatever the locale.
  EXPECT_EQ(ascii_lower("\xC0\xC3\x89Z"), "\xC0\xC3\x89z");
  EXPECT_EQ(ascii_upper("\xE0\xC3\xA9z"), "\xE0\xC3\xA9Z");
  EXPECT_EQ(ascii_lower(""), "");
}

TEST(Trim, StripsAsciiWhiteSpaceAtBothEndsOnly) {
  EXPECT_EQ(trim("  16MB\t"), "16MB");
  EXPECT_EQ(trim(" \t\r\n\v\f a b \f\v\n\r\t "), "a b");
  EXPECT_EQ(trim("no-space"), "no-space");
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("\xA0x\xA0"), "\xA0x\xA0");  // NO-BREAK SPACE is not ASCII
  for (char c : std::string_view(" \t\n\v\f\r")) EXPECT_TRUE(is_ascii_space(c));
  for (char c : std::string_view("a0_\x85\xA0")) EXPECT_FALSE(is_ascii_space(c));
}

TEST(Quoted, DoubleQuotesAroundTheTextUnescaped) {
  EXPECT_EQ(quoted("backups/a.tar"), "\"backups/a.tar\"");
  EXPECT_EQ(quoted(""), "\"\"");
  EXPECT_EQ(quoted("say \"hi\""), "\"say \"hi\"\"");
}

TEST(Hex, LowerCaseTwoDigitsPerByte) {
  EXPECT_EQ(hex(""), "");
  EXPECT_EQ(hex(std::string_view("\x00\x01\x7f\x80\xab\xff", 6)), "00017f80abff");
  EXPECT_EQ(hex("AZ"), "415a");
}

TEST(Hex, DigitValues) {
  EXPECT_EQ(hex_digit_value('0'), 0);
  EXPECT_EQ(hex_digit_value('9'), 9);
  EXPECT_EQ(hex_digit_value('a'), 10);
  EXPECT_EQ(hex_digit_value('F'), 15);
  EXPECT_EQ(hex_digit_value('g'), -1);
  EXPECT_EQ(hex_digit_value('/'), -1);
  EXPECT_EQ(hex_digit_value('\0'), -1);
}

TEST(Hex, OfBytes) {
  const std::array<std::byte, 3> bytes{std::byte{0x00}, std::byte{0x9c}, std::byte{0xff}};
  EXPECT_EQ(hex(std::span<const std::byte>(bytes)), "009cff");
}

TEST(AsciiCase, EqualButForCase) {
  EXPECT_TRUE(ascii_iequals("X-Amz-Signature", "x-amz-signature"));
  EXPECT_TRUE(ascii_iequals("", ""));
  EXPECT_FALSE(ascii_iequals("zstd", "zst"));
  EXPECT_FALSE(ascii_iequals("a-b", "a_b"));
  // Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ by the case bit.
  EXPECT_FALSE(ascii_iequals("@", "`"));
  EXPECT_FALSE(ascii_iequals("\xc3\x84", "\xc3\xa4"));
}

TEST(CollapseSpaces, TrimsAndMakesInnerRunsOneSpace) {
  EXPECT_EQ(collapse_spaces("  a \t\r\n b  c "), "a b c");
  EXPECT_EQ(collapse_spaces("plain"), "plain");
  EXPECT_EQ(collapse_spaces(" \t "), "");
  EXPECT_EQ(collapse_spaces(""), "");
}

TEST(AllDigits, NonEmptyAndOnlyZeroToNine) {
  EXPECT_TRUE(all_digits("0"));
  EXPECT_TRUE(all_digits("16384"));
  EXPECT_FALSE(all_digits(""));
  EXPECT_FALSE(all_digits("12a"));
  EXPECT_FALSE(all_digits("-1"));
  EXPECT_FALSE(all_digits(" 1"));
}

TEST(EditDistance, CountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance("list", "list"), 0u);
  EXPECT_EQ(edit_distance("lst", "list"), 1u);          // one insertion
  EXPECT_EQ(edit_distance("restoree", "restore"), 1u);  // one deletion
  EXPECT_EQ(edit_distance("verfiy", "verify"), 2u);     // a transposition is two
  EXPECT_EQ(edit_distance("", "get"), 3u);
  EXPECT_EQ(edit_distance("metrics", ""), 7u);
}
