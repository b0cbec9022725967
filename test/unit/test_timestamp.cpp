// Time stamps (pgvault/timestamp.hpp): the compact form has one formatter
// for both its inputs; ISO parsing and HTTP dates are tested in
// test_retention.cpp, test_catalog.cpp and test_signing.cpp.
#include "pgvault/timestamp.hpp"

#include <gtest/gtest.h>

using namespace pgvault;

TEST(CompactTimestamp, SecondsAndIsoGiveTheSameText) {
  const std::time_t t = 1795500930;  // 2026-11-24T06:15:30Z
  EXPECT_EQ(compact_timestamp(t), "20261124T061530Z");
  EXPECT_EQ(compact_timestamp("2026-11-24T06:15:30.999Z"), compact_timestamp(t));
  EXPECT_EQ(compact_timestamp(std::time_t{0}), "19700101T000000Z");
  // Four-digit years, zero-padded like the ISO form they come from.
  EXPECT_EQ(compact_timestamp("0999-01-02T03:04:05Z"), "09990102T030405Z");
  // The round trip through seconds keeps every field.
  const std::string iso = "2024-02-29T23:59:59.500Z";
  EXPECT_EQ(compact_timestamp(static_cast<std::time_t>(parse_utc_timestamp(iso))),
            "20240229T235959Z");
}
