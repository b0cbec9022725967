// Fetching one archived WAL file back out of a repository: what `pgvault
// wal-fetch %f %p` (PostgreSQL's restore_command) does for each file recovery
// asks for, without PostgreSQL. The key layout is wal_layout.hpp's; what is
// trusted when a key is read back is src/core/wal/README.md's.
//
// Contract of fetch_wal_file:
//  - file_name is the name PostgreSQL asks for (%f): a segment, a .history,
//    a .partial or a .backup file (parse_wal_file_name; anything else is
//    Error(invalid_argument)).
//  - The repository is asked for one listing of wal_object_prefix for this
//    system identifier. Keys that do not parse, or that belong to another
//    name or system, are ignored. No key: outcome not_found, nothing written.
//  - Several keys whose checksums differ (or several history keys, which
//    carry no checksum): Error(conflict) naming every key; nothing is written,
//    since guessing could replay another cluster's or a split brain's WAL.
//    Keys with the same checksum and another codec are the same file.
//  - The object is streamed through DecodeChain (decrypted when it starts
//    with the encryption header — with `decryptor`, or failing with a message
//    saying which key to configure when none is given — then decompressed by
//    its suffix) into a temporary file beside destination, hashing on the way
//    and never holding the file in memory. Accepted only when:
//      * the SHA-256 of the decoded bytes equals the key's checksum;
//      * a segment or .partial passes validate_wal_segment_header (this
//        system identifier, PostgreSQL 15's magic, the position its name
//        says, a valid segment size) and is exactly that segment size long;
//      * a .history file parses (TimelineHistory::parse).
//    Every failure is Error(corrupt) (Error(conflict) for another system's
//    WAL, Error(invalid_argument) for a wrong or missing key,
//    Error(storage) for an unreachable store) naming the file and the key.
//  - destination appears only complete and verified: the temporary file is
//    renamed over destination (fsynced before, and the directory after, when
//    request.durable). On any failure the temporary file is removed and
//    destination is not touched.
#pragma once
#include "pgvault/pg_free.hpp"

#include "pgvault/restore/backup_reading.hpp"  // DecryptorFactory
#include "pgvault/wal/wal_name.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pgvault {

class Storage;

struct WalFetchRequest {
  std::string system_identifier;  // decimal, as pg_controldata prints it
  std::string file_name;          // %f
  std::string destination;        // %p: where the file must appear
  // Opens encrypted objects; empty: an encrypted object fails with
  // missing_key_message (which setting to give).
  DecryptorFactory decryptor;
  // Whether the file is fsynced before its rename and the directory after.
  // PostgreSQL makes a restored file durable itself when it keeps it
  // (xlogarchive.c KeepFileRestoredFromArchive: durable_rename), and a spool
  // tied to one server start is dropped after a crash, so restore_command
  // needs neither; a copy fetched by hand is made durable.
  bool durable = true;
};

enum class WalFetchOutcome { fetched, not_found };

struct WalFetchResult {
  WalFetchOutcome outcome = WalFetchOutcome::not_found;
  std::string key;     // the object read (empty when not found)
  std::string sha256;  // of the file written
  std::uint64_t bytes = 0;
  std::uint64_t segment_size = 0;  // a segment's or .partial's, from its page header
};

WalFetchResult fetch_wal_file(Storage& storage, const WalFetchRequest& request);

// The decryptor fetch uses: opens an encrypted object with `provider`'s key.
// Objects that do not start with the encryption header are not passed to it.
DecryptorFactory wal_decryptor(KeyProvider provider);

// Checks a complete local copy of `file` (e.g. one taken from the prefetch
// spool): a segment's or .partial's page header and size, a history file's
// syntax. Throws Error(corrupt) / Error(conflict) like fetch_wal_file.
// Returns the segment size a segment's page header gives (0 for other files).
std::uint64_t validate_fetched_wal_file(const std::string& path, const std::string& file_name,
                                        const std::string& system_identifier);

}  // namespace pgvault

namespace pgvault {

// ---- The prefetch spool -------------------------------------------------------
//
// restore_command runs once per file, so segments fetched ahead must outlive
// the process that fetched them: `pgvault wal-fetch` keeps them in a spool
// directory, outside the data directory (pg_rewind and backups of PGDATA must
// never see it), private to one recovery.
//
// Contract:
//  - The directory is created 0700 (its parent must exist) and refused when it
//    is inside data_directory, is not a directory, is not owned by the caller
//    or can be read or written by anyone else.
//  - It holds only names the spool writes: WAL file names, the same followed
//    by ".pgvault-partial" (being written), and the spool's own files
//    (kSpoolOwnFiles: "wanted", "session", "lock", "prefetch.status" and
//    their temporary names). remove_all() removes exactly those and the
//    directory, and refuses (Error(invalid_argument), nothing removed) a
//    directory holding anything else: it is then not a spool.
//  - A file appears in the spool under its WAL name only complete and
//    verified (fetch_wal_file writes it): its SHA-256 matched its key when
//    it was fetched, so taking it needs no store.
//  - take() checks a spooled file again (validate_fetched_wal_file: header,
//    size; cheap) and moves it to destination (rename, or a copy across file
//    systems); a spooled file that fails the check is removed and not taken.
//  - remove_stale(asked) removes segments recovery has passed: those of other
//    timelines and those before asked, with their partial files.
//  - "wanted" records the last segment recovery asked for (and the segment
//    size), which the background fetcher reads to know what to fetch next.
//  - "session" names the recovery the spool belongs to (the caller's text:
//    the server start and the repository options). A spool whose session is
//    another is stale: start_session() empties it of WAL first, so nothing
//    fetched for another recovery, repository or key is ever taken.
class WalSpool {
 public:
  enum class Open { create, existing };
  // data_directory: refused as the spool's parent (empty: no such check).
  // Open::existing: Error(not_found) when the directory is missing.
  WalSpool(std::string dir, const std::string& data_directory, Open open = Open::create);
  const std::string& dir() const { return dir_; }
  std::string path_of(const WalFileName& file) const;
  std::string own_file(const char* name) const { return dir_ + "/" + name; }
  bool has(const WalFileName& file) const;
  // Whether file is being written into the spool now.
  bool is_being_written(const WalFileName& file) const;
  // Moves the spooled file to destination; false (why_not says why) when it
  // is not there or failed its check (then it is removed).
  // segment_size: set to the taken segment's (0 for other files).
  bool take(const WalFileName& file, const std::string& destination,
            const std::string& system_identifier, std::string& why_not,
            std::uint64_t& segment_size);
  void remove_stale(const WalFileName& asked);

  struct Wanted {
    WalFileName file = WalFileName::history(1);
    std::uint64_t segment_size = 0;
  };
  void set_wanted(const WalFileName& segment, std::uint64_t segment_size);
  std::optional<Wanted> wanted() const;

  // The recovery this spool belongs to ("" when none was recorded).
  std::string session() const;
  // Empties the spool of WAL, "wanted" and the status, then records session.
  void start_session(const std::string& session);
  // Entries that are not the spool's (sorted); empty for a spool.
  std::vector<std::string> foreign_entries() const;
  // Removes every spool entry and the directory (see the contract).
  void remove_all();

  static constexpr const char* kWantedFile = "wanted";
  static constexpr const char* kSessionFile = "session";
  static constexpr const char* kLockFile = "lock";
  static constexpr const char* kStatusFile = "prefetch.status";

 private:
  std::string dir_;
};

// The background fetcher: keeps the `depth` segments after the spool's
// "wanted" in the spool, on one thread per storage (storages.size() threads,
// each streaming one segment at a time, so memory is bounded by the thread
// count), lowest segment first, until keep_running() says no or nothing was
// asked for `idle_exit`. It reads "wanted" every `poll`; when it changes,
// remove_stale() drops what recovery has passed and the window moves on.
// A segment that is not archived stops the window there (the end of the
// archive) and is asked for again after `retry`, as is one that failed
// (failures are collected, not thrown: recovery asks for that segment itself
// and reports). keep_running() and on_progress() run on the calling thread.
struct WalPrefetcherOptions {
  std::string system_identifier;
  DecryptorFactory decryptor;
  unsigned depth = 8;
  bool durable = true;  // fsync each spooled file (WalFetchRequest::durable)
  std::chrono::milliseconds poll{20};
  std::chrono::milliseconds retry{1000};
  std::chrono::milliseconds idle_exit{30000};
};

struct WalPrefetcherReport {
  unsigned fetched = 0;                       // written into the spool
  std::optional<WalFileName> wanted;          // the last "wanted" seen
  std::optional<WalFileName> end_of_archive;  // the first segment not archived, if met
  std::vector<std::string> errors;            // segments that failed, newest last (at most 16)
};

WalPrefetcherReport run_wal_prefetcher(
    const std::vector<Storage*>& storages, WalSpool& spool, const WalPrefetcherOptions& options,
    const std::function<bool()>& keep_running,
    const std::function<void(const WalPrefetcherReport&)>& on_progress = {});

}  // namespace pgvault
