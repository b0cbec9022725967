// The chain of an incremental backup (backup_chain.hpp).
#include "pgvault/catalog/backup_chain.hpp"

#include "pgvault/catalog/repository.hpp"
#include "pgvault/error.hpp"
#include "pgvault/wal/wal_name.hpp"

#include <set>

namespace pgvault {

namespace {

// Whether parent ends at or before child starts (an LSN backup.json cannot
// give is not held against the chain: the objects decide then).
bool ends_after_start(const BackupMeta& parent, const BackupMeta& child) {
  try {
    return parse_lsn(parent.stop_lsn) > parse_lsn(child.start_lsn);
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

std::string BackupChain::describe() const {
  std::string out;
  for (auto it = backups.rbegin(); it != backups.rend(); ++it)
    out += (out.empty() ? "" : " <- ") + it->name;
  return out;
}

std::uint64_t BackupChain::stored_bytes() const {
  std::uint64_t total = 0;
  for (const BackupMeta& b : backups)
    for (const ObjectEntry& obj : b.objects) total += obj.size;
  return total;
}

BackupChain resolve_chain(const BackupMeta& newest, const BackupLookup& lookup) {
  if (!newest.is_physical())
    throw Error(ErrorKind::unsupported,
                "backup \"" + newest.name + "\" is a " + newest.kind +
                    " backup; only physical backups (full or incremental) have a chain");
  BackupChain chain;
  chain.backups.push_back(newest);
  std::set<std::string> seen{newest.name};
  while (chain.backups.back().kind == "incremental") {
    const BackupMeta child = chain.backups.back();
    const std::string link = "the chain of backup \"" + newest.name + "\" is broken: backup \"" +
                             child.name + "\" is relative to \"" + child.parent + "\", ";
    if (child.parent.empty())
      throw Error(ErrorKind::corrupt, "the chain of backup \"" + newest.name +
                                          "\" is broken: incremental backup \"" + child.name +
                                          "\" names no parent");
    if (seen.count(child.parent) != 0)
      throw Error(
          ErrorKind::corrupt, link + "which is already in its chain (a loop: " + [&] {
            std::string names;
            for (const auto& b : chain.backups) names += b.name + " -> ";
            return names + child.parent;
          }() + ")");
    BackupMeta parent;
    try {
      parent = lookup(child.system_identifier, child.parent);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::not_found)
        throw Error(ErrorKind::not_found,
                    link + "which is missing from the repository (" + e.what() + ")");
      throw Error(e.kind(), link + "which cannot be read: " + e.what());
    }
    if (parent.system_identifier != child.system_identifier)
      throw Error(ErrorKind::corrupt, link + "a backup of another system (" +
                                          parent.system_identifier + ", not " +
                                          child.system_identifier + ")");
    if (!parent.is_physical())
      throw Error(ErrorKind::corrupt, link + "a " + parent.kind +
                                          " backup; an incremental is relative to a full "
                                          "physical backup or another incremental");
    if (parent.timeline > child.timeline)
      throw Error(ErrorKind::corrupt, link + "which is on timeline " +
                                          std::to_string(parent.timeline) + ", after the child's " +
                                          std::to_string(child.timeline));
    if (ends_after_start(parent, child))
      throw Error(ErrorKind::corrupt, link + "which ends at " + parent.stop_lsn +
                                          ", after the child starts (" + child.start_lsn + ")");
    seen.insert(parent.name);
    chain.backups.push_back(std::move(parent));
  }
  return chain;
}

BackupChain resolve_chain(Repository& repo, const BackupMeta& newest) {
  return resolve_chain(newest, [&repo](const std::string& system, const std::string& name) {
    return repo.read_meta(system, name);
  });
}

BackupChain resolve_chain(const RepositoryListing& listing, const BackupMeta& newest) {
  return resolve_chain(newest, [&listing](const std::string& system, const std::string& name) {
    for (const auto& b : listing.complete)
      if (b.system_identifier == system && b.name == name) return b;
    for (const auto& u : listing.unreadable)
      if (u.system_identifier == system && u.name == name) throw Error(ErrorKind::corrupt, u.error);
    throw Error(ErrorKind::not_found,
                "no complete backup \"" + name + "\" of system " + system + " is listed");
  });
}

}  // namespace pgvault
