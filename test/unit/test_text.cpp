// Text helpers (pgvault/text.hpp): byte counts for people, ASCII case and
// white space, quoting and hexadecimal.
#include "pgvault/text.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <span>

using namespace pgvault;

TEST(HumanSize, BytesBelowOneKilobyte) {
  EXPECT_EQ(human_size(0), "0 bytes");
  EXPECT_EQ(human_size(1), "1 bytes");
  EXPECT_EQ(human_size(512), "512 bytes");
  EXPECT_EQ(human_size(1023), "1023 bytes");
}

TEST(HumanSize, OneDecimalBelowTenThenWhole) {
  EXPECT_EQ(human_size(1024), "1.0 kB");
  EXPECT_EQ(human_size(1536), "1.5 kB");
  EXPECT_EQ(human_size(1536ULL << 10), "1.5 MB");
  EXPECT_EQ(human_size(12ULL << 30), "12 GB");
  EXPECT_EQ(human_size(100ULL << 40), "100 TB");
  EXPECT_EQ(human_size(3ULL << 50), "3.0 PB");
  EXPECT_EQ(human_size(4096ULL << 50), "4096 PB");  // no unit beyond PB
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
