// WAL built byte by byte as PostgreSQL 15 lays it out: records with block
// references, page headers, records across pages and segments, CRCs and back
// links. For the tests of the WAL reader, summaries and the summarizer.
#pragma once

#include "pgvault/byte_order.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/wal/wal_records.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace pgvault::wal_records_test {

inline constexpr std::uint64_t kSegment = 1024 * 1024;  // the smallest wal_segment_size

struct BlockSpec {
  std::uint8_t id = 0;
  RelFileNode node{1663, 5, 16384};
  std::uint8_t fork = 0;
  std::uint32_t block = 0;
  bool same_rel = false;
  std::uint16_t data_length = 0;
  bool image = false;  // an image with a hole of 1000 bytes at offset 100
  bool will_init = false;
};

struct RecordSpec {
  std::uint8_t rmid = 10;  // heap
  std::uint8_t info = 0;
  std::uint32_t xid = 700;
  std::vector<BlockSpec> blocks;
  std::size_t main_length = 16;
  bool origin = false;
  bool toplevel_xid = false;
};

template <typename T>
inline void put(std::vector<std::byte>& v, T value) {
  std::byte b[sizeof(T)];
  store_le(b, value);
  v.insert(v.end(), b, b + sizeof(T));
}

// The record's bytes; xl_prev and xl_crc are filled when it is placed.
inline std::vector<std::byte> encode(const RecordSpec& r) {
  std::vector<std::byte> header(24, std::byte{0}), blocks, payload;
  for (const BlockSpec& b : r.blocks) {
    put<std::uint8_t>(blocks, b.id);
    std::uint8_t flags = b.fork;
    if (b.image) flags |= 0x10;
    if (b.data_length > 0) flags |= 0x20;
    if (b.will_init) flags |= 0x40;
    if (b.same_rel) flags |= 0x80;
    put<std::uint8_t>(blocks, flags);
    put<std::uint16_t>(blocks, b.data_length);
    if (b.image) {
      put<std::uint16_t>(blocks, 8192 - 1000);
      put<std::uint16_t>(blocks, 100);
      put<std::uint8_t>(blocks, 0x01 | 0x02);  // hole, apply
      payload.insert(payload.end(), 8192 - 1000, std::byte{0x5A});
    }
    if (!b.same_rel) {
      put(blocks, b.node.tablespace);
      put(blocks, b.node.database);
      put(blocks, b.node.relation);
    }
    put(blocks, b.block);
    payload.insert(payload.end(), b.data_length, std::byte{0x33});
  }
  if (r.origin) {
    put<std::uint8_t>(blocks, 253);
    put<std::uint16_t>(blocks, 7);
  }
  if (r.toplevel_xid) {
    put<std::uint8_t>(blocks, 252);
    put<std::uint32_t>(blocks, 99);
  }
  if (r.main_length > 0) {
    if (r.main_length < 256) {
      put<std::uint8_t>(blocks, 255);
      put<std::uint8_t>(blocks, static_cast<std::uint8_t>(r.main_length));
    } else {
      put<std::uint8_t>(blocks, 254);
      put<std::uint32_t>(blocks, static_cast<std::uint32_t>(r.main_length));
    }
    for (std::size_t i = 0; i < r.main_length; ++i)
      payload.push_back(static_cast<std::byte>(i * 7));
  }
  std::vector<std::byte> rec = header;
  rec.insert(rec.end(), blocks.begin(), blocks.end());
  rec.insert(rec.end(), payload.begin(), payload.end());
  store_le(rec.data(), static_cast<std::uint32_t>(rec.size()));
  store_le(rec.data() + 4, r.xid);
  rec[16] = static_cast<std::byte>(r.info);
  rec[17] = static_cast<std::byte>(r.rmid);
  return rec;
}

inline void seal(std::vector<std::byte>& rec, Lsn prev) {
  store_le(rec.data() + 8, prev.value);
  Crc32c crc;
  crc.update(std::span<const std::byte>(rec).subspan(24));
  crc.update(std::span<const std::byte>(rec).subspan(0, 20));
  store_le(rec.data() + 20, crc.value());
}

// WAL as PostgreSQL lays it out, from the start of segment `first`.
class WalBuilder {
 public:
  explicit WalBuilder(WalSegmentNo first = 3, std::size_t segments = 2)
      : first_(first), bytes_(segments * kSegment, std::byte{0}) {
    insert_ = start().value;
  }
  Lsn start() const { return Lsn{first_ * kSegment}; }
  Lsn insert_position() const { return Lsn{insert_}; }

  // Places a record (8-byte aligned) and returns where it starts.
  Lsn add(const RecordSpec& spec) { return add_raw(encode(spec)); }
  Lsn add_raw(std::vector<std::byte> rec, bool sealed = false) {
    align();
    enter_page_if_at_start(0);
    const Lsn at{insert_};
    if (!sealed) seal(rec, prev_);
    prev_ = at;
    std::size_t done = 0;
    while (done < rec.size()) {
      enter_page_if_at_start(rec.size() - done);
      const std::size_t room = kWalBlockSize - insert_ % kWalBlockSize;
      const std::size_t n = std::min(room, rec.size() - done);
      std::copy_n(rec.begin() + static_cast<std::ptrdiff_t>(done), n, at_lsn(insert_));
      insert_ += n;
      done += n;
    }
    return at;
  }
  // Moves to the next page without writing its header (for tests that write their own).
  void skip_to_next_page() { insert_ = (insert_ / kWalBlockSize + 1) * kWalBlockSize; }
  void set_page_header(Lsn page, std::uint16_t info, Lsn address, std::uint32_t rem_len) {
    write_header(page.value, info, address.value, rem_len);
  }
  std::byte* at_lsn(std::uint64_t lsn) { return bytes_.data() + (lsn - start().value); }
  std::span<const std::byte> segment(std::size_t i) const {
    return std::span<const std::byte>(bytes_).subspan(i * kSegment, kSegment);
  }
  void set_insert(Lsn lsn) { insert_ = lsn.value; }

 private:
  void align() { insert_ = (insert_ + 7) & ~std::uint64_t{7}; }
  // At a page start: its header (a continuation of rem_len bytes when a
  // record is being written).
  void enter_page_if_at_start(std::size_t continuing) {
    if (insert_ % kWalBlockSize != 0) return;
    const bool long_header = insert_ % kSegment == 0;
    const bool cont = continuing > 0 && insert_ != prev_.value;
    std::uint16_t info = long_header ? 0x0002 : 0;
    if (cont) info |= 0x0001;
    write_header(insert_, info, insert_, cont ? static_cast<std::uint32_t>(continuing) : 0);
    insert_ += long_header ? 40 : 24;
  }
  void write_header(std::uint64_t page, std::uint16_t info, std::uint64_t address,
                    std::uint32_t rem_len) {
    std::byte* h = at_lsn(page);
    store_le<std::uint16_t>(h, 0xD110);
    store_le<std::uint16_t>(h + 2, info);
    store_le<std::uint32_t>(h + 4, 1);
    store_le<std::uint64_t>(h + 8, address);
    store_le<std::uint32_t>(h + 16, rem_len);
    if ((info & 0x0002) != 0) {
      store_le<std::uint64_t>(h + 24, 7000000000000000001ULL);
      store_le<std::uint32_t>(h + 32, static_cast<std::uint32_t>(kSegment));
      store_le<std::uint32_t>(h + 36, kWalBlockSize);
    }
  }

  WalSegmentNo first_;
  std::vector<std::byte> bytes_;
  std::uint64_t insert_ = 0;
  Lsn prev_;
};

}  // namespace pgvault::wal_records_test
