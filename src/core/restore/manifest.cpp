#include "pgvault/restore/manifest.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/sha256.hpp"
#include "pgvault/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

namespace pgvault {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorKind::corrupt, "could not parse backup_manifest: " + what);
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return hex_digit_value(c) >= 0; });
}

// Decodes "Encoded-Path": the hex of the path's raw bytes.
std::string decode_hex_path(const std::string& hex) {
  if (hex.size() % 2 != 0 || !is_hex(hex)) {
    fail("\"Encoded-Path\" \"" + hex + "\" is not an even-length hexadecimal string");
  }
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out.push_back(static_cast<char>(hex_digit_value(hex[i]) * 16 + hex_digit_value(hex[i + 1])));
  }
  return out;
}

// The manifest checksum covers every byte up to and including the newline
// that precedes the last line (which holds "Manifest-Checksum").
std::string_view checksummed_part(std::string_view text) {
  if (text.empty() || text.back() != '\n') fail("the last line is not newline-terminated");
  const std::size_t last = text.size() - 1;
  const std::size_t penultimate = last == 0 ? std::string_view::npos : text.rfind('\n', last - 1);
  if (penultimate == std::string_view::npos) fail("expected at least 2 lines");
  std::string_view last_line = text.substr(penultimate + 1);
  if (last_line.rfind("\"Manifest-Checksum\"", 0) != 0) {
    fail("the last line does not start with \"Manifest-Checksum\"");
  }
  return text.substr(0, penultimate + 1);
}

std::uint64_t parse_size(const nlohmann::json& v, const std::string& path) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::uint64_t>();
  fail("\"Size\" of file \"" + path + "\" is not a non-negative integer");
}

}  // namespace

BackupManifest BackupManifest::parse(std::string_view text) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("not valid JSON (") + e.what() + ")");
  }
  if (!doc.is_object()) fail("the top level is not a JSON object");

  auto version = doc.find("PostgreSQL-Backup-Manifest-Version");
  if (version == doc.end()) fail("\"PostgreSQL-Backup-Manifest-Version\" is missing");
  if (!version->is_number_integer() || version->get<std::int64_t>() < 1 ||
      version->get<std::int64_t>() > 2) {
    throw Error(ErrorKind::unsupported, "backup_manifest version " + version->dump() +
                                            " is not supported (supported: 1 and 2)");
  }
  for (const auto& [key, value] : doc.items()) {
    (void)value;
    if (key != "PostgreSQL-Backup-Manifest-Version" && key != "System-Identifier" &&
        key != "Files" && key != "WAL-Ranges" && key != "Manifest-Checksum") {
      fail("unrecognized top-level field \"" + key + "\"");
    }
  }

  // Checksum first: a damaged manifest must not be trusted field by field.
  auto checksum = doc.find("Manifest-Checksum");
  if (checksum == doc.end() || !checksum->is_string()) fail("\"Manifest-Checksum\" is missing");
  const std::string expected = ascii_lower(checksum->get<std::string>());
  if (expected.size() != 64 || !is_hex(expected)) {
    fail("\"Manifest-Checksum\" \"" + expected + "\" is not a 64-digit hexadecimal SHA-256");
  }
  const std::string actual = sha256_hex(checksummed_part(text));
  if (actual != expected) {
    throw Error(ErrorKind::corrupt, "backup_manifest is corrupt: its Manifest-Checksum says " +
                                        expected + " but its content hashes to " + actual);
  }

  auto files = doc.find("Files");
  if (files == doc.end() || !files->is_array()) fail("\"Files\" is missing or not an array");

  BackupManifest m;
  m.files_.reserve(files->size());
  for (const auto& f : *files) {
    if (!f.is_object()) fail("an entry of \"Files\" is not an object");
    ManifestFile mf;
    auto p = f.find("Path");
    auto ep = f.find("Encoded-Path");
    if (p != f.end() && ep != f.end()) fail("a file has both \"Path\" and \"Encoded-Path\"");
    if (p != f.end()) {
      if (!p->is_string()) fail("a file's \"Path\" is not a string");
      mf.path = p->get<std::string>();
    } else if (ep != f.end()) {
      if (!ep->is_string()) fail("a file's \"Encoded-Path\" is not a string");
      mf.path = decode_hex_path(ep->get<std::string>());
    } else {
      fail("a file has neither \"Path\" nor \"Encoded-Path\"");
    }
    if (mf.path.empty()) fail("a file has an empty path");

    auto size = f.find("Size");
    if (size == f.end()) fail("file \"" + mf.path + "\" has no \"Size\"");
    mf.size = parse_size(*size, mf.path);

    auto alg = f.find("Checksum-Algorithm");
    auto sum = f.find("Checksum");
    if (alg != f.end()) {
      if (!alg->is_string()) fail("\"Checksum-Algorithm\" of \"" + mf.path + "\" is not a string");
      mf.checksum_algorithm = alg->get<std::string>();
    } else {
      mf.checksum_algorithm = "NONE";
    }
    if (sum != f.end()) {
      if (alg == f.end()) fail("file \"" + mf.path + "\" has a checksum without an algorithm");
      if (!sum->is_string()) fail("\"Checksum\" of \"" + mf.path + "\" is not a string");
      mf.checksum = ascii_lower(sum->get<std::string>());
      if (mf.checksum.size() % 2 != 0 || !is_hex(mf.checksum)) {
        fail("\"Checksum\" of \"" + mf.path + "\" is not hexadecimal");
      }
    }
    if (m.index_.count(mf.path) != 0) fail("file \"" + mf.path + "\" is listed twice");
    m.index_.emplace(mf.path, m.files_.size());
    m.files_.push_back(std::move(mf));
  }
  return m;
}

bool BackupManifest::uses(std::string_view algorithm) const {
  const std::string wanted = ascii_lower(std::string(algorithm));
  return std::any_of(files_.begin(), files_.end(), [&](const ManifestFile& f) {
    return ascii_lower(f.checksum_algorithm) == wanted;
  });
}

FileSums listed_sums(const ManifestFile& mf) {
  FileSums sums;
  const std::string alg = ascii_lower(mf.checksum_algorithm);
  if (alg == "sha256") sums.sha256 = mf.checksum;
  if (alg == "crc32c") sums.crc32c = mf.checksum;
  return sums;
}

const ManifestFile* BackupManifest::find(std::string_view path) const {
  auto it = index_.find(std::string(path));
  return it == index_.end() ? nullptr : &files_[it->second];
}

std::uint64_t BackupManifest::total_size() const {
  std::uint64_t total = 0;
  for (const auto& f : files_) total += f.size;
  return total;
}

// ---- ManifestChecker ----------------------------------------------------------

ManifestChecker::ManifestChecker(const BackupManifest& manifest, Note note)
    : manifest_(manifest), note_(std::move(note)), seen_(manifest.files().size(), false) {}

const ManifestFile* ManifestChecker::expect_listed(const std::string& archive,
                                                   const std::string& manifest_path) {
  const ManifestFile* mf = manifest_.find(manifest_path);
  if (mf == nullptr && manifest_path.rfind("pg_wal/", 0) != 0) {
    throw Error(ErrorKind::corrupt, "file \"" + manifest_path + "\" in " + archive +
                                        " is not listed in backup_manifest; only WAL files "
                                        "under pg_wal/ may be");
  }
  return mf;  // nullptr: WAL the server included
}

void ManifestChecker::mark_seen(const ManifestFile* mf) {
  seen_[static_cast<std::size_t>(mf - manifest_.files().data())] = true;
  ++checked_;
}

std::uint64_t ManifestChecker::files_checked() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return checked_;
}

void ManifestChecker::check_file(const std::string& archive, const std::string& manifest_path,
                                 std::uint64_t size, const FileSums& sums) {
  std::lock_guard<std::mutex> lock(mutex_);
  const ManifestFile* mf = expect_listed(archive, manifest_path);
  if (mf == nullptr) return;
  if (size != mf->size) {
    throw Error(ErrorKind::corrupt, "file \"" + manifest_path + "\" in " + archive + " has " +
                                        std::to_string(size) + " bytes but backup_manifest says " +
                                        std::to_string(mf->size));
  }
  const std::string alg = ascii_lower(mf->checksum_algorithm);
  if (alg == "sha256") {
    if (sums.sha256 != mf->checksum) {
      throw Error(ErrorKind::corrupt, "file \"" + manifest_path + "\" in " + archive +
                                          " does not match backup_manifest (SHA-256 is " +
                                          sums.sha256 + ", manifest says " + mf->checksum + ")");
    }
  } else if (alg == "crc32c") {
    if (sums.crc32c != mf->checksum) {
      throw Error(ErrorKind::corrupt, "file \"" + manifest_path + "\" in " + archive +
                                          " does not match backup_manifest (CRC-32C is " +
                                          sums.crc32c + ", manifest says " + mf->checksum + ")");
    }
  } else if (alg != "none" && !noted_algorithm_) {
    noted_algorithm_ = true;
    if (note_) {
      note_("note: backup_manifest uses " + mf->checksum_algorithm +
            " checksums; only file sizes are verified (run pg_verifybackup for a full check)");
    }
  }
  mark_seen(mf);
}

void ManifestChecker::check_hard_link(const std::string& archive, const std::string& manifest_path,
                                      const std::string& target_manifest_path) {
  std::lock_guard<std::mutex> lock(mutex_);
  const ManifestFile* mf = expect_listed(archive, manifest_path);
  if (mf == nullptr) return;
  const ManifestFile* target = manifest_.find(target_manifest_path);
  // The target was checked when it streamed by; equal entries mean equal content.
  if (target == nullptr || !seen_[static_cast<std::size_t>(target - manifest_.files().data())] ||
      target->size != mf->size ||
      ascii_lower(target->checksum_algorithm) != ascii_lower(mf->checksum_algorithm) ||
      target->checksum != mf->checksum) {
    throw Error(ErrorKind::corrupt, "file \"" + manifest_path + "\" in " + archive +
                                        " is a hard link to \"" + target_manifest_path +
                                        "\", which does not match its backup_manifest entry");
  }
  mark_seen(mf);
}

void ManifestChecker::check_complete() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t missing = 0;
  const ManifestFile* first_missing = nullptr;
  for (std::size_t i = 0; i < seen_.size(); ++i) {
    if (!seen_[i]) {
      if (first_missing == nullptr) first_missing = &manifest_.files()[i];
      ++missing;
    }
  }
  if (first_missing == nullptr) return;
  std::string msg =
      "file \"" + first_missing->path + "\" listed in backup_manifest is missing from the backup";
  if (missing > 1) msg += " (and " + std::to_string(missing - 1) + " more files)";
  throw Error(ErrorKind::corrupt, msg);
}

// ---- ManifestSizeSink ---------------------------------------------------------

void ManifestSizeSink::scan_line(std::string_view line) {
  // PostgreSQL writes one file per line: { "Path": ..., "Size": N, ... }.
  // `"Size":` cannot occur inside a JSON string (its quotes would be escaped).
  static constexpr std::string_view kKey = "\"Size\":";
  const std::size_t pos = line.find(kKey);
  if (pos == std::string_view::npos) return;
  std::size_t i = pos + kKey.size();
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(line.data() + i, line.data() + line.size(), value);
  if (ec != std::errc() || ptr == line.data() + i) return;
  total_ += value;
  ++files_;
}

void ManifestSizeSink::write(std::span<const std::byte> data) {
  next_.write(data);
  std::string_view chunk(reinterpret_cast<const char*>(data.data()), data.size());
  while (!chunk.empty()) {
    const std::size_t nl = chunk.find('\n');
    if (nl == std::string_view::npos) {
      // Only the partial last line is kept. A line longer than any a manifest
      // can hold (paths are < 1024 bytes) carries no "Size" we could trust.
      if (partial_line_.size() < 64 * 1024) partial_line_.append(chunk);
      return;
    }
    if (partial_line_.empty()) {
      scan_line(chunk.substr(0, nl));
    } else {
      partial_line_.append(chunk.substr(0, nl));
      scan_line(partial_line_);
      partial_line_.clear();
    }
    chunk.remove_prefix(nl + 1);
  }
}

void ManifestSizeSink::finish() {
  if (!partial_line_.empty()) {
    scan_line(partial_line_);
    partial_line_.clear();
  }
  next_.finish();
}

}  // namespace pgvault
