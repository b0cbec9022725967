// Stored WAL summaries (wal_summary_file.hpp).
#include "pgvault/wal/wal_summary_file.hpp"

#include "pgvault/byte_order.hpp"
#include "pgvault/error.hpp"
#include "pgvault/file_replacement.hpp"
#include "pgvault/pipeline/crc32c.hpp"
#include "pgvault/positional_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

namespace pgvault {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic("PGVWSUM\0", 8);
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kSuffix = ".summary";
constexpr std::string_view kTemporarySuffix = ".summary.tmp";
constexpr std::size_t kHeaderSize = 8 + 4 + 4 + 8 + 8;
constexpr std::uint8_t kWhole = 1, kTruncated = 2;

std::string hex(std::uint64_t value, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%0*llX", digits, static_cast<unsigned long long>(value));
  return buf;
}

std::optional<std::uint64_t> parse_hex(std::string_view text) {
  std::uint64_t v = 0;
  for (char c : text) {
    if (c >= '0' && c <= '9')
      v = v * 16 + static_cast<std::uint64_t>(c - '0');
    else if (c >= 'A' && c <= 'F')
      v = v * 16 + static_cast<std::uint64_t>(c - 'A' + 10);
    else
      return std::nullopt;
  }
  return v;
}

class Writer {
 public:
  template <typename T>
  void put(T v) {
    const std::size_t at = out_.size();
    out_.resize(at + sizeof(T));
    store_le(reinterpret_cast<std::byte*>(out_.data() + at), v);
  }
  void bytes(std::string_view b) { out_.append(b); }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(std::string_view in, std::string what) : in_(in), what_(std::move(what)) {}
  template <typename T>
  T get(const char* field) {
    if (in_.size() - at_ < sizeof(T))
      fail(std::string("it ends inside ") + field + " at byte " + std::to_string(at_));
    const T v = load_le<T>(reinterpret_cast<const std::byte*>(in_.data() + at_));
    at_ += sizeof(T);
    return v;
  }
  std::size_t left() const { return in_.size() - at_; }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorKind::corrupt, "WAL summary " + what_ + " is not valid: " + why);
  }

 private:
  std::string_view in_;
  std::size_t at_ = 0;
  std::string what_;
};

std::optional<std::string> read_small_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

}  // namespace

std::string describe(const WalSummaryRange& r) {
  return "timeline " + std::to_string(r.timeline) + ", " + format_lsn(r.start) + ".." +
         format_lsn(r.end);
}

std::string wal_summary_file_name(const WalSummaryRange& r) {
  return hex(r.timeline, 8) + hex(r.start.value, 16) + hex(r.end.value, 16) + std::string(kSuffix);
}

std::optional<WalSummaryRange> parse_wal_summary_file_name(std::string_view name) {
  if (name.size() != 40 + kSuffix.size() || name.substr(40) != kSuffix) return std::nullopt;
  const auto tli = parse_hex(name.substr(0, 8));
  const auto start = parse_hex(name.substr(8, 16));
  const auto end = parse_hex(name.substr(24, 16));
  if (!tli || !start || !end || *end <= *start || *tli == 0) return std::nullopt;
  return WalSummaryRange{static_cast<TimelineId>(*tli), Lsn{*start}, Lsn{*end}};
}

std::string encode_wal_summary(const WalSummaryRange& range, const WalSummary& summary) {
  if (range.end <= range.start)
    throw Error(ErrorKind::invalid_argument,
                "a WAL summary's range must not be empty: " + describe(range));
  Writer w;
  w.bytes(kMagic);
  w.put<std::uint32_t>(kVersion);
  w.put<std::uint32_t>(range.timeline);
  w.put<std::uint64_t>(range.start.value);
  w.put<std::uint64_t>(range.end.value);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(summary.forks().size()));
  for (const auto& [fork, changes] : summary.forks()) {
    if (!std::is_sorted(changes.blocks.begin(), changes.blocks.end()))
      throw Error(ErrorKind::invalid_argument, "encode_wal_summary needs a finished summary");
    w.put<std::uint32_t>(fork.node.tablespace);
    w.put<std::uint32_t>(fork.node.database);
    w.put<std::uint32_t>(fork.node.relation);
    w.put<std::uint8_t>(fork.fork);
    w.put<std::uint8_t>(static_cast<std::uint8_t>((changes.whole ? kWhole : 0) |
                                                  (changes.truncated_to ? kTruncated : 0)));
    w.put<std::uint32_t>(changes.truncated_to.value_or(0));
    w.put<std::uint32_t>(static_cast<std::uint32_t>(changes.blocks.size()));
    for (std::uint32_t b : changes.blocks) w.put<std::uint32_t>(b);
  }
  w.put<std::uint32_t>(static_cast<std::uint32_t>(summary.copied_databases().size()));
  for (const auto& [tablespace, database] : summary.copied_databases()) {
    w.put<std::uint32_t>(tablespace);
    w.put<std::uint32_t>(database);
  }
  Crc32c crc;
  crc.update(std::string_view(w.str()));
  w.put<std::uint32_t>(crc.value());
  return std::move(w.str());
}

WalSummary decode_wal_summary(std::string_view bytes, const WalSummaryRange& named) {
  Reader r(bytes, "\"" + wal_summary_file_name(named) + "\"");
  if (bytes.size() < kHeaderSize + 4 + 4 + 4 || bytes.substr(0, kMagic.size()) != kMagic)
    r.fail("it does not start with pgvault's WAL summary header");
  Crc32c crc;
  crc.update(bytes.substr(0, bytes.size() - 4));
  if (crc.value() !=
      load_le<std::uint32_t>(reinterpret_cast<const std::byte*>(bytes.data() + bytes.size() - 4)))
    r.fail("its CRC-32C does not match (a torn or damaged file)");
  Reader body(bytes.substr(kMagic.size(), bytes.size() - kMagic.size() - 4),
              "\"" + wal_summary_file_name(named) + "\"");
  if (const auto version = body.get<std::uint32_t>("the version"); version != kVersion)
    r.fail("format version " + std::to_string(version) + ", this pgvault reads version " +
           std::to_string(kVersion));
  WalSummaryRange stored;
  stored.timeline = body.get<std::uint32_t>("the timeline");
  stored.start = Lsn{body.get<std::uint64_t>("the start")};
  stored.end = Lsn{body.get<std::uint64_t>("the end")};
  if (stored != named)
    r.fail("its header says " + describe(stored) + ", its name " + describe(named));
  WalSummary summary;
  const auto forks = body.get<std::uint32_t>("the fork count");
  for (std::uint32_t i = 0; i < forks; ++i) {
    RelationForkId id;
    id.node.tablespace = body.get<std::uint32_t>("a tablespace");
    id.node.database = body.get<std::uint32_t>("a database");
    id.node.relation = body.get<std::uint32_t>("a relation");
    id.fork = body.get<std::uint8_t>("a fork");
    const auto flags = body.get<std::uint8_t>("a fork's flags");
    const auto truncated_to = body.get<std::uint32_t>("a truncation");
    const auto count = body.get<std::uint32_t>("a block count");
    if (id.fork > 3) r.fail("fork number " + std::to_string(id.fork));
    if ((flags & ~(kWhole | kTruncated)) != 0)
      r.fail("unknown fork flags " + std::to_string(flags));
    if (std::uint64_t{count} * 4 > body.left()) r.fail("a block count beyond its end");
    ForkChanges changes;
    changes.whole = (flags & kWhole) != 0;
    if ((flags & kTruncated) != 0) changes.truncated_to = truncated_to;
    changes.blocks.reserve(count);
    for (std::uint32_t b = 0; b < count; ++b) {
      const auto block = body.get<std::uint32_t>("a block");
      if (!changes.blocks.empty() && block <= changes.blocks.back())
        r.fail("the blocks of a fork are not in increasing order");
      changes.blocks.push_back(block);
    }
    summary.restore_fork(id, std::move(changes));
  }
  const auto copied = body.get<std::uint32_t>("the copied database count");
  for (std::uint32_t i = 0; i < copied; ++i) {
    const auto tablespace = body.get<std::uint32_t>("a tablespace");
    summary.restore_copied_database(tablespace, body.get<std::uint32_t>("a database"));
  }
  if (body.left() != 0) r.fail(std::to_string(body.left()) + " bytes after its end");
  summary.finish();
  return summary;
}

void write_wal_summary(const fs::path& dir, const WalSummaryRange& range,
                       const WalSummary& summary) {
  const std::string bytes = encode_wal_summary(range, summary);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::io, "could not create \"" + dir.string() + "\": " + ec.message());
  const std::string name = wal_summary_file_name(range);
  const fs::path temporary = dir / (name.substr(0, 40) + std::string(kTemporarySuffix));
  // Not synced: a file cut short by a crash fails its CRC and counts as
  // missing (the incremental then reads every page).
  replace_file((dir / name).string(), bytes, {temporary.string(), 0600, false});
}

std::vector<WalSummaryRange> list_wal_summaries(const fs::path& dir) {
  std::vector<WalSummaryRange> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (auto range = parse_wal_summary_file_name(it->path().filename().string()))
      out.push_back(*range);
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<WalSummaryRange> newest_covered_stretch(const std::vector<WalSummaryRange>& ranges,
                                                      TimelineId timeline) {
  std::vector<WalSummaryRange> mine;
  for (const WalSummaryRange& r : ranges)
    if (r.timeline == timeline) mine.push_back(r);
  if (mine.empty()) return std::nullopt;
  const auto last = std::max_element(mine.begin(), mine.end(),
                                     [](const auto& a, const auto& b) { return a.end < b.end; });
  WalSummaryRange stretch = *last;
  // By start, newest first: a range that reaches what is covered extends
  // it; one that does not lies before a gap or inside what a range with an
  // earlier start and a later end covers, which comes later in this order.
  std::sort(mine.begin(), mine.end(),
            [](const auto& a, const auto& b) { return a.start > b.start; });
  for (const WalSummaryRange& r : mine)
    if (r.end >= stretch.start) stretch.start = std::min(stretch.start, r.start);
  return stretch;
}

WalChanges collect_wal_changes(const fs::path& dir, TimelineId timeline, Lsn from, Lsn to) {
  WalChanges out;
  if (to <= from) {
    out.summary.emplace();
    out.summary->finish();
    return out;
  }
  std::vector<std::string> unreadable;
  WalSummary merged;
  merged.finish();
  Lsn covered = from;  // records starting before this are in `merged`
  for (const WalSummaryRange& range : list_wal_summaries(dir)) {
    if (range.timeline != timeline || range.end <= from || range.start >= to) continue;
    // Sorted by start: a range starting after `covered` leaves a gap that
    // no later range can fill.
    if (range.start > covered) break;
    if (range.end <= covered) continue;  // adds nothing (contained in what was read)
    try {
      const auto bytes = read_small_file(dir / wal_summary_file_name(range));
      if (!bytes) throw Error(ErrorKind::io, "it could not be read");
      merged.merge(decode_wal_summary(*bytes, range));
      out.used.push_back(range);
      covered = range.end;
    } catch (const std::exception& e) {
      unreadable.push_back(wal_summary_file_name(range) + " (" + e.what() + ")");
    }
    if (covered >= to) break;
  }
  if (covered >= to) {
    out.summary = std::move(merged);
    return out;
  }
  out.used.clear();
  out.why_not = "no WAL summary of timeline " + std::to_string(timeline) + " covers " +
                format_lsn(covered) + ".." + format_lsn(to) + " (the WAL from " + format_lsn(from) +
                " is needed)";
  if (!unreadable.empty()) {
    out.why_not += "; skipped";
    for (const auto& u : unreadable) out.why_not += " " + u;
  }
  return out;
}

std::size_t remove_old_wal_summaries(const fs::path& dir, std::chrono::seconds keep,
                                     fs::file_time_type now) {
  std::size_t removed = 0;
  auto remove = [&](const fs::path& path) {
    std::error_code ec;
    if (fs::remove(path, ec)) ++removed;
  };
  std::error_code ec;
  std::vector<fs::path> temporaries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > kTemporarySuffix.size() &&
        name.compare(name.size() - kTemporarySuffix.size(), kTemporarySuffix.size(),
                     kTemporarySuffix) == 0) {
      // Only a writer that died leaves one behind; a live writer renames it
      // within moments, so a minute's age tells them apart.
      std::error_code mtime_error;
      const auto written = fs::last_write_time(it->path(), mtime_error);
      if (!mtime_error && now - written > std::chrono::minutes(1))
        temporaries.push_back(it->path());
    }
  }
  for (const auto& t : temporaries) remove(t);
  const std::vector<WalSummaryRange> ranges = list_wal_summaries(dir);
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const WalSummaryRange& r = ranges[i];
    const bool inside_another =
        std::any_of(ranges.begin(), ranges.end(), [&](const WalSummaryRange& o) {
          return o != r && o.timeline == r.timeline && o.start <= r.start && r.end <= o.end &&
                 // Of two equal ranges (impossible by name) neither goes.
                 (o.start != r.start || o.end != r.end);
        });
    const fs::path path = dir / wal_summary_file_name(r);
    if (inside_another) {
      remove(path);
      continue;
    }
    if (keep.count() > 0) {
      std::error_code mtime_error;
      const auto written = fs::last_write_time(path, mtime_error);
      if (!mtime_error && now - written > keep) remove(path);
    }
  }
  return removed;
}

}  // namespace pgvault
