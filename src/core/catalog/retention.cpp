#include "pgvault/catalog/retention.hpp"

#include "pgvault/catalog/backup_meta.hpp"
#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/wal/wal_layout.hpp"
#include "pgvault/wal/wal_name.hpp"
#include "pgvault/wal/wal_retention.hpp"

#include <algorithm>
#include <limits>

namespace pgvault {

namespace {

constexpr std::int64_t kSecondsPerDay = 86400;

// Newest first: by completed_at (seconds), then by where they end in the
// WAL, then by name (descending).
bool newer(const RetentionCandidate& a, const RetentionCandidate& b) {
  if (a.completed_at != b.completed_at) return a.completed_at > b.completed_at;
  if (a.stop_lsn != b.stop_lsn) return a.stop_lsn > b.stop_lsn;
  return a.name > b.name;
}

// now - days*86400 without overflow (days > 0).
std::int64_t cutoff(std::int64_t now, int days) {
  const std::int64_t span = static_cast<std::int64_t>(days) * kSecondsPerDay;
  if (now < std::numeric_limits<std::int64_t>::min() + span)
    return std::numeric_limits<std::int64_t>::min();
  return now - span;
}

}  // namespace

std::vector<std::string> plan_retention(const std::vector<RetentionCandidate>& complete,
                                        const RetentionPolicy& policy, std::int64_t now) {
  if (!policy.enabled() || complete.empty()) return {};

  std::vector<RetentionCandidate> sorted = complete;
  std::sort(sorted.begin(), sorted.end(), newer);

  // The newest is always kept; with a count, the newest keep_count are.
  std::size_t kept = 1;
  if (policy.keep_count > 0) kept = std::max(kept, static_cast<std::size_t>(policy.keep_count));

  std::vector<std::string> expired;
  for (std::size_t i = kept; i < sorted.size(); ++i) {
    const bool too_old =
        policy.keep_days <= 0 || sorted[i].completed_at < cutoff(now, policy.keep_days);
    if (too_old) expired.push_back(sorted[i].name);
  }
  std::reverse(expired.begin(), expired.end());  // oldest first
  return expired;
}

std::string retention_group(const std::string& database, const std::string& selection_json) {
  // A NUL cannot occur in either part: the key is unambiguous.
  return database + std::string(1, '\0') + selection_json;
}

namespace {

// Groups in first-seen order: kind, group key -> candidates.
std::vector<std::vector<RetentionCandidate>> split_by_group(
    const std::vector<RetentionCandidate>& complete) {
  std::vector<std::vector<RetentionCandidate>> groups;
  for (const RetentionCandidate& c : complete) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
      return g.front().kind == c.kind && g.front().group == c.group;
    });
    if (it == groups.end()) {
      groups.push_back({c});
    } else {
      it->push_back(c);
    }
  }
  return groups;
}

}  // namespace

std::vector<std::string> plan_retention_by_group(const std::vector<RetentionCandidate>& complete,
                                                 const RetentionPolicies& policies,
                                                 std::int64_t now) {
  std::vector<RetentionCandidate> expired;
  for (const auto& group : split_by_group(complete)) {
    const std::string& kind = group.front().kind;
    if (kind != "physical" && kind != "logical") continue;  // unknown: never expired
    const RetentionPolicy& policy = kind == "physical" ? policies.physical : policies.logical;
    for (const std::string& name : plan_retention(group, policy, now)) {
      expired.push_back(*std::find_if(group.begin(), group.end(),
                                      [&](const RetentionCandidate& c) { return c.name == name; }));
    }
  }
  std::sort(expired.begin(), expired.end(), newer);
  std::vector<std::string> names;
  for (auto it = expired.rbegin(); it != expired.rend(); ++it) names.push_back(it->name);
  return names;  // oldest first
}

std::vector<std::string> newest_of_each_group(const std::vector<RetentionCandidate>& complete) {
  std::vector<std::string> names;
  for (const auto& group : split_by_group(complete))
    names.push_back(std::min_element(group.begin(), group.end(), newer)->name);
  return names;
}

std::vector<RetentionCandidate> retention_candidates(const std::vector<BackupMeta>& listed,
                                                     const std::string& system_identifier,
                                                     const std::string& running) {
  std::vector<RetentionCandidate> candidates;
  for (const BackupMeta& meta : listed) {
    if (meta.system_identifier != system_identifier || meta.name == running) continue;
    try {
      std::uint64_t stop = 0;
      try {
        if (meta.is_physical()) stop = parse_lsn(meta.stop_lsn).value;
      } catch (const Error&) {
        // Unreadable: ordered by time and name alone.
      }
      candidates.push_back(
          {meta.name, parse_utc_timestamp(meta.completed_at),
           meta.is_physical() ? std::string("physical") : meta.kind,
           meta.kind == "logical" ? retention_group(meta.database, meta.logical.to_json()) : "",
           stop});
    } catch (const Error& e) {
      // An unreadable completion time: never expired (and not counted).
      if (e.kind() != ErrorKind::invalid_argument) throw;
    }
  }
  return candidates;
}

std::vector<std::string> keep_chain_parents(const std::vector<BackupMeta>& complete,
                                            std::vector<std::string>& planned) {
  auto find = [&](const std::string& name) -> const BackupMeta* {
    for (const BackupMeta& m : complete)
      if (m.name == name) return &m;
    return nullptr;
  };
  auto is_planned = [&](const std::string& name) {
    return std::find(planned.begin(), planned.end(), name) != planned.end();
  };
  std::vector<std::string> reasons;
  for (const BackupMeta& staying : complete) {
    if (is_planned(staying.name)) continue;
    // At most complete.size() links: a loop in damaged backup.json files ends.
    const BackupMeta* link = &staying;
    for (std::size_t hops = 0; link && !link->parent.empty() && hops < complete.size(); ++hops) {
      const BackupMeta* parent = find(link->parent);
      if (!parent) break;
      if (is_planned(parent->name)) {
        std::erase(planned, parent->name);
        reasons.push_back("backup \"" + parent->name + "\" stays: incremental backup \"" +
                          link->name + "\", which stays, is restored on top of it");
      }
      link = parent;
    }
  }
  return reasons;
}

std::vector<std::string> dependent_backups(const std::vector<BackupMeta>& complete,
                                           const std::string& name) {
  std::vector<std::string> out;
  for (const BackupMeta& m : complete)
    if (!m.parent.empty() && m.parent == name) out.push_back(m.name);
  std::sort(out.begin(), out.end());
  return out;
}

RetentionResult apply_retention(Repository& repo, const std::string& system_identifier,
                                const RetentionPolicies& policies, std::int64_t now,
                                const std::string& running, std::int64_t leftover_min_age,
                                const std::vector<std::string>& abandoned,
                                const WalHistoryReader& read_wal_history,
                                const ServerPosition* self) {
  // list_backups("") would list every system: refuse it outright.
  if (system_identifier.empty())
    throw Error(ErrorKind::invalid_argument, "retention needs a system identifier");

  RetentionResult result;

  if (policies.enabled()) {
    RepositoryListing listing = repo.list_all(system_identifier);
    for (const UnreadableBackup& backup : listing.unreadable)
      result.kept_unreadable.push_back(backup.error);
    std::vector<RetentionCandidate> candidates =
        retention_candidates(listing.complete, system_identifier, running);
    if (self) {
      for (const OtherServerBackup& other :
           backups_of_other_servers(listing.complete, system_identifier, *self,
                                    repo.storage().list(wal_root(system_identifier)))) {
        std::erase_if(candidates,
                      [&](const RetentionCandidate& c) { return c.name == other.name; });
        result.kept_other_servers.push_back(other.reason);
      }
    }
    std::vector<std::string> planned = plan_retention_by_group(candidates, policies, now);
    result.kept_for_chains = keep_chain_parents(listing.complete, planned);
    // Newest first: an incremental goes before its parent, so a run cut
    // short never leaves a listed backup whose chain is broken.
    for (auto it = planned.rbegin(); it != planned.rend(); ++it) {
      try {
        repo.remove_backup(system_identifier, *it);
      } catch (const Error& e) {
        // Removed meanwhile by someone else (a concurrent cleanup): already gone.
        if (e.kind() != ErrorKind::not_found) throw;
        continue;
      }
      result.expired.push_back(*it);
    }
    std::reverse(result.expired.begin(), result.expired.end());  // reported oldest first
    if (policies.physical.enabled()) {
      if (!listing.unreadable.empty()) {
        result.wal_kept_reason =
            "archived WAL kept: " + std::to_string(listing.unreadable.size()) +
            " backup(s) of this system have an unusable backup.json, and what they need is "
            "unknown";
      } else {
        std::vector<BackupMeta> remaining;
        for (BackupMeta& meta : listing.complete) {
          if (std::find(result.expired.begin(), result.expired.end(), meta.name) ==
              result.expired.end())
            remaining.push_back(std::move(meta));
        }
        const WalRetentionResult wal =
            apply_wal_retention(repo.storage(), system_identifier, remaining, read_wal_history);
        result.wal_removed_objects = wal.removed_objects;
        result.wal_removed_ranges = wal.removed_ranges;
        result.wal_kept_reason = wal.kept_all_reason;
      }
    }
  }

  for (const std::string& name : abandoned) {
    if (name == running || name.empty() || repo.backup_exists(system_identifier, name)) continue;
    repo.storage().remove_prefix(Repository::backup_dir(system_identifier, name));
    result.leftovers.push_back(name);
  }

  // Leftovers of incomplete backups: removed once their newest object is old
  // enough that no writer can still be adding to them.
  const std::int64_t leftover_cutoff = now - leftover_min_age;
  for (const std::string& name : repo.incomplete_backups(system_identifier)) {
    if (name == running ||
        std::find(result.leftovers.begin(), result.leftovers.end(), name) != result.leftovers.end())
      continue;
    const std::string dir = Repository::backup_dir(system_identifier, name);
    std::vector<ObjectInfo> objects = repo.storage().list(dir);
    if (objects.empty()) continue;
    std::int64_t newest = std::numeric_limits<std::int64_t>::min();
    for (const ObjectInfo& obj : objects) newest = std::max(newest, obj.mtime_unix);
    if (newest >= leftover_cutoff) continue;
    repo.storage().remove_prefix(dir);
    result.leftovers.push_back(name);
  }
  return result;
}

}  // namespace pgvault
