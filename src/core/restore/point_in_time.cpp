#include "pgvault/restore/point_in_time.hpp"

#include "pgvault/error.hpp"
#include "pgvault/pipeline/encrypted_object.hpp"
#include "pgvault/pipeline/sink.hpp"
#include "pgvault/storage/storage.hpp"
#include "pgvault/text.hpp"
#include "pgvault/wal/wal_layout.hpp"

#include <limits>
#include <utility>

namespace pgvault {

const std::optional<std::string>& TimelineHistories::text(TimelineId timeline) {
  auto it = texts_.find(timeline);
  if (it == texts_.end())
    it = texts_.emplace(timeline, timeline == 1 ? std::nullopt : reader_(timeline)).first;
  return it->second;
}

bool TimelineHistories::exists(TimelineId timeline) {
  return text(timeline).has_value();
}

const TimelineHistory& TimelineHistories::history(TimelineId timeline) {
  auto it = parsed_.find(timeline);
  if (it != parsed_.end()) return it->second;
  const std::optional<std::string>& t = text(timeline);
  return parsed_
      .emplace(timeline, t ? TimelineHistory::parse(timeline, *t) : TimelineHistory(timeline))
      .first->second;
}

TimelineId TimelineHistories::newest_from(TimelineId start) {
  TimelineId newest = start;
  while (newest < std::numeric_limits<TimelineId>::max() && exists(newest + 1)) ++newest;
  return newest;
}

TimelineId resolve_target_timeline(const RecoveryTimeline& spec, TimelineId backup_timeline,
                                   TimelineHistories& histories) {
  switch (spec.kind) {
    case RecoveryTimeline::Kind::current:
      return backup_timeline;
    case RecoveryTimeline::Kind::id:
      return spec.id;
    case RecoveryTimeline::Kind::latest:
      break;
  }
  return histories.newest_from(backup_timeline);
}

namespace {

std::string backup_label(const BackupMeta& b) {
  return "backup \"" + b.name + "\"";
}

std::optional<std::int64_t> completed_us(const BackupMeta& b) {
  try {
    return parse_recovery_target_time(b.completed_at);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::optional<Lsn> stop_lsn(const BackupMeta& b) {
  try {
    return parse_lsn(b.stop_lsn);
  } catch (const Error&) {
    return std::nullopt;
  }
}

Lsn required_stop_lsn(const BackupMeta& b) {
  if (auto lsn = stop_lsn(b)) return *lsn;
  throw Error(ErrorKind::corrupt, backup_label(b) + " has no valid stop LSN in backup.json (\"" +
                                      quote_untrusted(b.stop_lsn) + "\")");
}

struct Verdict {
  bool usable = false;
  TimelineId target_timeline = 0;
  std::string reason;  // why not, or the comparison detail when usable
};

Verdict judge(const BackupMeta& b, const RecoveryTarget& target, TimelineHistories& histories) {
  Verdict v;
  const BackupVersusTarget end = compare_backup_to_target(b, target);
  if (end.verdict == BackupVersusTarget::Verdict::after) {
    v.reason = end.detail;
    return v;
  }
  v.target_timeline = resolve_target_timeline(target.timeline, b.timeline, histories);
  const TimelineHistory::Reachability r =
      histories.history(v.target_timeline).reaches(b.timeline, required_stop_lsn(b));
  if (!r.reachable) {
    v.reason = r.reason;
    return v;
  }
  v.usable = true;
  v.reason = end.detail;
  return v;
}

std::string why_chosen(const BackupMeta& b, const RecoveryTarget& target, const std::string& detail,
                       TimelineId target_timeline) {
  std::string why;
  switch (target.type) {
    case RecoveryTargetType::time:
    case RecoveryTargetType::lsn:
      why = "it is the newest physical backup that ends before the target: " + detail;
      break;
    case RecoveryTargetType::xid:
    case RecoveryTargetType::name:
      why = "it is the newest physical backup; " + detail;
      break;
    case RecoveryTargetType::immediate:
      why =
          "it is the newest physical backup; recovery stops as soon as it is consistent, at "
          "its stop LSN " +
          b.stop_lsn;
      break;
    case RecoveryTargetType::latest:
      why =
          "it is the newest physical backup; recovery replays the archived WAL after it to "
          "its end";
      break;
  }
  return why + " (backup on timeline " + std::to_string(b.timeline) + ", recovery to timeline " +
         std::to_string(target_timeline) + ")";
}

}  // namespace

BackupVersusTarget compare_backup_to_target(const BackupMeta& b, const RecoveryTarget& target) {
  using V = BackupVersusTarget::Verdict;
  switch (target.type) {
    case RecoveryTargetType::time: {
      const std::optional<std::int64_t> completed = completed_us(b);
      if (!completed)
        return {V::after, "its completion time in backup.json (\"" +
                              quote_untrusted(b.completed_at) + "\") is not a valid time"};
      const std::string when = "completed " + format_recovery_target_time(*completed);
      if (*completed <= target.time_us)
        return {V::before, when + ", at or before the target time " + target.value()};
      return {V::after, when + ", after the target time " + target.value() +
                            " (recovery cannot stop before a backup is consistent, and it is "
                            "consistent only at its end)"};
    }
    case RecoveryTargetType::lsn: {
      const Lsn stop = required_stop_lsn(b);
      if (stop <= target.lsn)
        return {V::before, "its stop LSN " + format_lsn(stop) + " is at or before the target LSN " +
                               target.value()};
      return {V::after, "its stop LSN " + format_lsn(stop) + " is after the target LSN " +
                            target.value() +
                            " (recovery cannot stop before a backup is consistent, at its stop "
                            "LSN)"};
    }
    case RecoveryTargetType::xid:
      return {V::unknown, "backup.json cannot say whether transaction " + target.value() +
                              " committed after it ended; if recovery stops with \"requested "
                              "recovery stop point is before consistent recovery point\", "
                              "restore an older backup with --backup NAME"};
    case RecoveryTargetType::name:
      return {V::unknown, "backup.json cannot say whether restore point \"" +
                              quote_untrusted(target.name) +
                              "\" was created after it ended; if recovery ends with \"recovery "
                              "ended before configured recovery target was reached\", restore an "
                              "older backup with --backup NAME"};
    case RecoveryTargetType::immediate:
    case RecoveryTargetType::latest:
      break;
  }
  return {V::unknown, "every backup can recover to " + target.describe()};
}

PointInTimeChoice choose_backup_for_target(const std::vector<BackupMeta>& backups,
                                           const RecoveryTarget& target,
                                           TimelineHistories& histories) {
  PointInTimeChoice choice;
  for (auto it = backups.rbegin(); it != backups.rend(); ++it) {
    const Verdict v = judge(*it, target, histories);
    if (!v.usable) {
      choice.skipped.push_back(it->name + ": " + v.reason);
      continue;
    }
    choice.backup = *it;
    choice.target_timeline = v.target_timeline;
    choice.why = why_chosen(*it, target, v.reason, v.target_timeline);
    return choice;
  }
  std::string message = "no physical backup can recover to " + target.describe();
  if (backups.empty()) {
    message += ": there is no complete physical backup of this system";
  } else {
    message += ":";
    for (const std::string& s : choice.skipped) message += "\n  " + s;
    if (target.type == RecoveryTargetType::time || target.type == RecoveryTargetType::lsn)
      message += "\nThe recoverable window starts at the end of the oldest backup (" +
                 backups.front().name + ": completed " + backups.front().completed_at +
                 ", stop LSN " + backups.front().stop_lsn + "); give a later target.";
  }
  throw Error(ErrorKind::not_found, message);
}

PointInTimeChoice check_backup_for_target(const BackupMeta& backup, const RecoveryTarget& target,
                                          TimelineHistories& histories) {
  const Verdict v = judge(backup, target, histories);
  if (!v.usable)
    throw Error(ErrorKind::invalid_argument,
                backup_label(backup) + " cannot recover to " + target.describe() + ": " + v.reason +
                    "; give an older backup with --backup NAME, or --backup latest to let pgvault "
                    "pick the newest backup that can");
  PointInTimeChoice choice;
  choice.backup = backup;
  choice.target_timeline = v.target_timeline;
  choice.why = "it was named with --backup; " + v.reason + " (backup on timeline " +
               std::to_string(backup.timeline) + ", recovery to timeline " +
               std::to_string(v.target_timeline) + ")";
  return choice;
}

std::string read_wal_history_object(Storage& storage, const std::string& key,
                                    const DecryptorFactory& decryptor) {
  // A history file is a line per ancestor: far below this even with
  // thousands of timelines; a larger object is not one.
  constexpr std::uint64_t kMaxStoredHistory = 4u << 20;
  if (auto info = storage.info(key); info && info->size > kMaxStoredHistory)
    throw Error(ErrorKind::corrupt, "archived history file \"" + quote_untrusted(key) + "\" is " +
                                        human_size(info->size) +
                                        ", far larger than a timeline history file can be");
  const std::string stored = storage.read_all(key);
  const bool encrypted = looks_encrypted(as_bytes(stored));
  if (encrypted && !decryptor)
    throw Error(ErrorKind::invalid_argument,
                "archived history file \"" + quote_untrusted(key) +
                    "\" is encrypted, but no encryption key was given: pass "
                    "--encryption-key-file FILE, or set pgvault.encryption_key_file or "
                    "pgvault.encryption_passphrase in the --config file (or "
                    "$PGVAULT_ENCRYPTION_KEY_FILE / $PGVAULT_ENCRYPTION_PASSPHRASE)");
  StringSink text;
  {
    backup_reading::DecodeChain chain(key, text, encrypted ? decryptor : DecryptorFactory{});
    chain.input().write(as_bytes(stored));
    chain.input().finish();
  }
  return text.str();
}

TimelineHistories::Reader catalog_history_reader(const WalCatalog& catalog,
                                                 WalHistoryReader read_history) {
  return [&catalog, read = std::move(read_history)](TimelineId t) -> std::optional<std::string> {
    const WalTimelineCatalog* timeline = catalog.timeline(t);
    if (timeline == nullptr || !timeline->history_object) return std::nullopt;
    return read(timeline->history_object->key);
  };
}

std::string check_target_in_archive(const WalCatalog& catalog,
                                    const std::vector<BackupMeta>& backups,
                                    const PointInTimeChoice& choice, const RecoveryTarget& target) {
  using Verdict = RecoverabilityAnswer::Verdict;
  const TimelineId tl = choice.target_timeline;
  const std::vector<RecoverableWindow> every = catalog.recoverable_windows(backups, tl);
  const std::vector<RecoverableWindow> chosen = catalog.recoverable_windows({choice.backup}, tl);
  const std::string from = "from backup \"" + choice.backup.name + "\"";
  if (target.type == RecoveryTargetType::time || target.type == RecoveryTargetType::lsn) {
    auto check = [&](const std::vector<RecoverableWindow>& windows) {
      return target.type == RecoveryTargetType::time
                 ? check_recoverable_time(windows, target.time_us)
                 : check_recoverable_lsn(windows, target.lsn);
    };
    const RecoverabilityAnswer in_chosen = check(chosen);
    if (in_chosen.verdict != Verdict::not_recoverable) return in_chosen.message;
    const RecoverabilityAnswer in_every = check(every);
    const std::string path =
        " (archived WAL along the path to timeline " + std::to_string(tl) + ")";
    if (in_every.verdict == Verdict::not_recoverable)
      throw Error(ErrorKind::invalid_argument,
                  "cannot restore to " + target.describe() + ": " + in_every.message + path);
    throw Error(ErrorKind::invalid_argument,
                "cannot restore to " + target.describe() + " " + from + ": " + in_chosen.message +
                    "; but " + in_every.message + path + ": restore that backup with --backup");
  }
  if (target.type == RecoveryTargetType::immediate)
    return "recovery needs no archived WAL: the backup holds the WAL up to its stop LSN " +
           choice.backup.stop_lsn;
  const std::optional<Lsn> start = [&]() -> std::optional<Lsn> {
    try {
      return parse_lsn(choice.backup.start_lsn);
    } catch (const Error&) {
      return std::nullopt;
    }
  }();
  if (!start || chosen.empty())
    return "no archived WAL continues " + from +
           " without a gap: recovery ends at the backup's end (stop LSN " + choice.backup.stop_lsn +
           ")" +
           (target.type == RecoveryTargetType::latest ? std::string()
                                                      : ", and a target after it is never reached");
  const WalContinuity c = catalog.continuity(choice.backup.timeline, *start, tl);
  std::string note = "the archived WAL " + from + " continues to " + format_lsn(c.end) +
                     " on timeline " + std::to_string(c.end_timeline);
  if (c.first_missing)
    note += "; WAL file " + c.first_missing->name() +
            " is missing, so nothing archived after it can be replayed";
  if (target.type != RecoveryTargetType::latest)
    note += "; " + target.describe() + " must lie before that for recovery to reach it";
  return note;
}

}  // namespace pgvault
