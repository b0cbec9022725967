// Text helpers shared by the CLI and the restore progress messages.
#include "pgvault/text.hpp"

#include <gtest/gtest.h>

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
