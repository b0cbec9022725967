// WAL file names, segment numbers and LSNs (include/pgvault/wal/wal_name.hpp).
#include "pgvault/error.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

using namespace pgvault;

namespace {

constexpr std::uint64_t k16MB = std::uint64_t{16} << 20;
constexpr std::uint64_t k1MB = std::uint64_t{1} << 20;
constexpr std::uint64_t k1GB = std::uint64_t{1} << 30;

// The message of the invalid_argument Error that fn throws (fails the test otherwise).
template <typename Fn>
std::string invalid_argument_message(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return {};
}

}  // namespace

TEST(WalLsn, FormatsLikePgLsn) {
  EXPECT_EQ(format_lsn(Lsn{0}), "0/0");
  EXPECT_EQ(format_lsn(Lsn{0x16B3748}), "0/16B3748");
  EXPECT_EQ(format_lsn(Lsn{0x16B374D848ULL}), "16/B374D848");
  EXPECT_EQ(format_lsn(Lsn{UINT64_MAX}), "FFFFFFFF/FFFFFFFF");
}

TEST(WalLsn, ParsesWhatPgLsnAccepts) {
  EXPECT_EQ(parse_lsn("0/0").value, 0u);
  EXPECT_EQ(parse_lsn("16/B374D848").value, 0x16B374D848ULL);
  EXPECT_EQ(parse_lsn("16/b374d848").value, 0x16B374D848ULL);
  EXPECT_EQ(parse_lsn("00000000/00000001").value, 1u);
  EXPECT_EQ(parse_lsn("FFFFFFFF/FFFFFFFF").value, UINT64_MAX);
  for (std::uint64_t v : {0x1ULL, 0x2000028ULL, 0x1234567890ABCDEFULL})
    EXPECT_EQ(parse_lsn(format_lsn(Lsn{v})).value, v);
}

TEST(WalLsn, RefusesAnythingElse) {
  for (const char* bad : {"", "/", "0/", "/0", "0", "123456789/0", "0/123456789", "0x1/0", "0/1 ",
                          " 0/1", "0/1/2", "G/0", "-1/0", "+1/0", "0\0/1"}) {
    std::string msg = invalid_argument_message([&] { parse_lsn(bad); });
    EXPECT_NE(msg.find("invalid LSN"), std::string::npos) << msg;
    EXPECT_NE(msg.find("pg_lsn form X/Y"), std::string::npos) << msg;
  }
}

TEST(WalLsn, Orders) {
  EXPECT_LT(parse_lsn("0/FFFFFFFF"), parse_lsn("1/0"));
  EXPECT_LT(parse_lsn("0/9"), parse_lsn("0/10"));
  EXPECT_EQ(parse_lsn("A/1"), parse_lsn("a/01"));
}

TEST(WalSegment, SizeMustBeAPowerOfTwoFrom1MBTo1GB) {
  for (std::uint64_t ok = k1MB; ok <= k1GB; ok <<= 1)
    EXPECT_NO_THROW(validate_wal_segment_size(ok));
  for (std::uint64_t bad :
       {std::uint64_t{0}, k1MB / 2, k1GB * 2, k16MB + 8192, std::uint64_t{3} << 20}) {
    std::string msg = invalid_argument_message([&] { validate_wal_segment_size(bad); });
    EXPECT_NE(msg.find("power of two from 1 MB to 1 GB"), std::string::npos) << msg;
  }
}

TEST(WalSegment, LsnToSegmentAndBackAsXLByteToSeg) {
  EXPECT_EQ(wal_segments_per_xlog_id(k16MB), 256u);
  EXPECT_EQ(wal_segments_per_xlog_id(k1MB), 4096u);
  EXPECT_EQ(wal_segments_per_xlog_id(k1GB), 4u);
  EXPECT_EQ(wal_segment_of(parse_lsn("0/2000028"), k16MB), 2u);
  EXPECT_EQ(wal_segment_of(parse_lsn("0/1FFFFFF"), k16MB), 1u);
  EXPECT_EQ(wal_segment_of(parse_lsn("0/2000000"), k16MB), 2u);  // a boundary starts the next one
  EXPECT_EQ(wal_segment_of(parse_lsn("1/0"), k16MB), 256u);
  EXPECT_EQ(wal_segment_of(parse_lsn("16/B374D848"), k16MB), 0x16B3u);
  EXPECT_EQ(wal_segment_start(2, k16MB), parse_lsn("0/2000000"));
  EXPECT_EQ(wal_segment_start(256, k16MB), parse_lsn("1/0"));
  EXPECT_EQ(wal_segment_start(5, k1GB), parse_lsn("1/40000000"));
  EXPECT_EQ(wal_segment_start((UINT64_MAX / k16MB), k16MB), parse_lsn("FFFFFFFF/FF000000"));
  std::string msg =
      invalid_argument_message([&] { wal_segment_start(UINT64_MAX / k16MB + 1, k16MB); });
  EXPECT_NE(msg.find("beyond the end of the WAL"), std::string::npos) << msg;
  invalid_argument_message([&] { wal_segment_of(Lsn{1}, 12345); });
}

TEST(WalName, ParsesEveryKindPostgresWrites) {
  WalFileName seg = parse_wal_file_name("000000010000000000000003");
  EXPECT_EQ(seg.kind(), WalFileKind::segment);
  EXPECT_EQ(seg.timeline(), 1u);
  EXPECT_EQ(seg.log_id(), 0u);
  EXPECT_EQ(seg.log_segment(), 3u);
  EXPECT_EQ(seg.segment_no(k16MB), 3u);
  EXPECT_EQ(seg.start_lsn(k16MB), parse_lsn("0/3000000"));
  EXPECT_EQ(seg.name(), "000000010000000000000003");

  WalFileName hist = parse_wal_file_name("0000000A.history");
  EXPECT_EQ(hist.kind(), WalFileKind::history);
  EXPECT_EQ(hist.timeline(), 10u);
  EXPECT_FALSE(hist.has_segment());
  EXPECT_EQ(hist.name(), "0000000A.history");

  WalFileName backup = parse_wal_file_name("00000002000000160000004B.00000028.backup");
  EXPECT_EQ(backup.kind(), WalFileKind::backup_history);
  EXPECT_EQ(backup.timeline(), 2u);
  EXPECT_EQ(backup.log_id(), 0x16u);
  EXPECT_EQ(backup.log_segment(), 0x4Bu);
  EXPECT_EQ(backup.backup_offset(), 0x28u);
  EXPECT_EQ(backup.segment_name(), "00000002000000160000004B");
  EXPECT_EQ(backup.segment_no(k16MB), 0x164Bu);
  EXPECT_EQ(backup.name(), "00000002000000160000004B.00000028.backup");

  WalFileName partial = parse_wal_file_name("0000000100000000000000FF.partial");
  EXPECT_EQ(partial.kind(), WalFileKind::partial);
  EXPECT_EQ(partial.segment_no(k16MB), 0xFFu);
  EXPECT_EQ(partial.name(), "0000000100000000000000FF.partial");
  EXPECT_EQ(partial.next_segment(k16MB).name(), "000000010000000100000000");
}

TEST(WalName, RefusesEverythingElseSayingWhy) {
  struct Case {
    std::string name, why;
  };
  const std::vector<Case> cases = {
      {"", "it is empty"},
      {"../00000001000000000000001", "path separator"},
      {"00000001/0000000000000003", "path separator"},
      {"0000000100000000000000\\3", "path separator"},
      {"00000001000000000000003", "length (23)"},
      {"0000000100000000000000033", "length (25)"},
      {"000000010000000000000003.gz", "length (27)"},
      {"00000001.History", "length (16)"},
      {"000000010000000000000003.partia", "length"},
      {"000000010000000000000003X00000028.backup", "length"},
      {"0000000100000000000000ab", "lower-case hexadecimal 'a' at position 23"},
      {"00000001.history.gz", "length (19)"},
      {"0000000g.history", "'g', not a hexadecimal digit at position 8"},
      {"00000000.history", "timeline 00000000 does not exist"},
      {"000000000000000000000001", "timeline 00000000 does not exist"},
      {"00000001000000000000000 ", "' ', not a hexadecimal digit at position 24"},
      {"000000010000000000000003.0000002x.backup", "backup offset"},
      {"archive_status", "length (14)"},
      {std::string("00000001000000000000000\n", 24), "'\\x0A', not a hexadecimal digit"},
  };
  for (const auto& c : cases) {
    std::string msg = invalid_argument_message([&] { parse_wal_file_name(c.name); });
    EXPECT_NE(msg.find(c.why), std::string::npos) << c.name << " -> " << msg;
    EXPECT_NE(msg.find("allowed: a segment TTTTTTTTXXXXXXXXYYYYYYYY"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "control bytes are escaped: " << msg;
  }
}

TEST(WalName, SegmentImpossibleForTheSegmentSizeIsRefused) {
  WalFileName n = parse_wal_file_name("000000010000000000000100");
  EXPECT_EQ(n.segment_no(k1MB), 0x100u);  // 4096 segments per log id at 1 MB
  std::string msg = invalid_argument_message([&] { n.segment_no(k16MB); });
  EXPECT_NE(msg.find("cannot exist with 16 MB segments"), std::string::npos) << msg;
  EXPECT_NE(msg.find("below 00000100"), std::string::npos) << msg;
  invalid_argument_message([&] { parse_wal_file_name("00000001.history").segment_no(k16MB); });
}

TEST(WalName, BuildsNamesLikeXLogFileName) {
  EXPECT_EQ(WalFileName::segment(1, 3, k16MB).name(), "000000010000000000000003");
  EXPECT_EQ(WalFileName::segment(0xAB, 0x16B3, k16MB).name(), "000000AB00000016000000B3");
  EXPECT_EQ(WalFileName::segment(1, 4097, k1MB).name(), "000000010000000100000001");
  EXPECT_EQ(WalFileName::segment(1, 5, k1GB).name(), "000000010000000100000001");
  EXPECT_EQ(WalFileName::history(2).name(), "00000002.history");
  EXPECT_EQ(WalFileName::backup_history(1, 2, k16MB, 0x28).name(),
            "000000010000000000000002.00000028.backup");
  EXPECT_EQ(WalFileName::partial(1, 2, k16MB).name(), "000000010000000000000002.partial");
  invalid_argument_message([&] { WalFileName::segment(0, 1, k16MB); });
  invalid_argument_message([&] { WalFileName::history(0); });
  invalid_argument_message([&] { WalFileName::backup_history(1, 2, k16MB, k16MB); });
  invalid_argument_message([&] { WalFileName::segment(1, 1, 1000); });
  // Round trip through the text for every segment size.
  for (std::uint64_t size = k1MB; size <= k1GB; size <<= 1)
    for (WalSegmentNo segno : {WalSegmentNo{0}, WalSegmentNo{1}, WalSegmentNo{4095},
                               WalSegmentNo{4096}, WalSegmentNo{123456789}}) {
      WalFileName n = WalFileName::segment(7, segno, size);
      EXPECT_EQ(parse_wal_file_name(n.name()).segment_no(size), segno);
      EXPECT_EQ(wal_segment_of(n.start_lsn(size), size), segno);
    }
}

TEST(WalName, NextAndPreviousSegmentCrossTheLogIdBoundary) {
  WalFileName last = parse_wal_file_name("0000000100000000000000FF");
  EXPECT_EQ(last.next_segment(k16MB).name(), "000000010000000100000000");
  EXPECT_EQ(last.next_segment(k16MB).previous_segment(k16MB), last);
  EXPECT_EQ(parse_wal_file_name("000000010000000000000FFF").next_segment(k1MB).name(),
            "000000010000000100000000");
  EXPECT_EQ(parse_wal_file_name("000000020000000000000003.00000028.backup")
                .previous_segment(k16MB)
                .name(),
            "000000020000000000000002");
  std::string msg = invalid_argument_message(
      [&] { parse_wal_file_name("000000010000000000000000").previous_segment(k16MB); });
  EXPECT_NE(msg.find("is the first one"), std::string::npos) << msg;
  invalid_argument_message([&] { parse_wal_file_name("00000003.history").next_segment(k16MB); });
}

TEST(WalName, OrdersAsPostgresNamesSortAsText) {
  std::vector<std::string> names = {
      "000000020000000000000001", "00000002.history",
      "000000010000000100000000", "000000010000000000000002.partial",
      "000000010000000000000002", "000000010000000000000002.00000028.backup"};
  std::vector<WalFileName> parsed;
  for (const auto& n : names) parsed.push_back(parse_wal_file_name(n));
  std::sort(parsed.begin(), parsed.end());
  std::sort(names.begin(), names.end());
  for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(parsed[i].name(), names[i]);
  EXPECT_EQ(parsed.front().name(), "000000010000000000000002");
  EXPECT_LT(parse_wal_file_name("00000002.history"),
            parse_wal_file_name("000000020000000000000001"));
}

TEST(WalName, KindNames) {
  EXPECT_EQ(wal_file_kind_name(WalFileKind::segment), "segment");
  EXPECT_EQ(wal_file_kind_name(WalFileKind::history), "history");
  EXPECT_EQ(wal_file_kind_name(WalFileKind::backup_history), "backup history");
  EXPECT_EQ(wal_file_kind_name(WalFileKind::partial), "partial");
}

TEST(WalName, QuoteUntrustedEscapesAndTruncates) {
  EXPECT_EQ(quote_untrusted("abc"), "abc");
  EXPECT_EQ(quote_untrusted(std::string("a\"b\\c\n\x01\xff", 8)), "a\\x22b\\x5Cc\\x0A\\x01\\xFF");
  EXPECT_EQ(quote_untrusted(std::string(150, 'x')), std::string(100, 'x') + "...");
}
