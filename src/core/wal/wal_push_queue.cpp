// WAL pushed ahead on a bounded number of threads; the contract is in
// include/pgvault/wal/wal_push_queue.hpp.
#include "pgvault/wal/wal_push_queue.hpp"

#include "pgvault/error.hpp"
#include "pgvault/thread.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

namespace pgvault {

namespace {

bool is_history_name(const std::string& name) {
  return name.size() > 8 && name.ends_with(".history");
}

}  // namespace

void sort_in_archive_order(std::vector<std::string>& names) {
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    const bool ha = is_history_name(a), hb = is_history_name(b);
    if (ha != hb) return ha;
    return a < b;
  });
}

struct WalPushQueue::State {
  enum class Phase { queued, running, succeeded, failed };
  struct Record {
    Phase phase = Phase::queued;
    std::uint64_t id = 0;  // tells a record from a later one of the same name
    WalFilePusher pusher;
    std::optional<WalPushResult> result;
  };

  std::mutex mu;
  std::condition_variable changed;  // a record changed phase, work queued, a thread ended, stop
  std::map<std::string, Record> records;
  std::deque<std::pair<std::string, std::uint64_t>> queue;  // names to push, in order
  std::string settings_id;
  std::uint64_t next_id = 1;
  int live_threads = 0;
  bool stopping = false;

  // One thread: takes queued names in order until stopped.
  void work() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      changed.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) break;
      auto [name, id] = queue.front();
      queue.pop_front();
      auto it = records.find(name);
      if (it == records.end() || it->second.id != id || it->second.phase != Phase::queued)
        continue;  // dropped or replaced meanwhile
      it->second.phase = Phase::running;
      WalFilePusher pusher = it->second.pusher;
      lock.unlock();
      std::optional<WalPushResult> result;
      try {
        result = pusher(name);
      } catch (...) {
        // Not reported: the file is pushed again when it is asked for.
      }
      lock.lock();
      it = records.find(name);
      if (it != records.end() && it->second.id == id) {
        it->second.phase = result ? Phase::succeeded : Phase::failed;
        it->second.result = std::move(result);
        it->second.pusher = nullptr;
      }
      changed.notify_all();
    }
    --live_threads;
    changed.notify_all();
  }

  // Forgets every record made under another settings_id; running pushes
  // finish, and their results find no record.
  void adopt_settings(const std::string& id) {
    if (id == settings_id) return;
    settings_id = id;
    records.clear();
    queue.clear();
  }

  void forget_unless_ready(const std::string& asked, const std::vector<std::string>& ready) {
    const std::set<std::string> waiting(ready.begin(), ready.end());
    for (auto it = records.begin(); it != records.end();) {
      if (it->first != asked && !waiting.contains(it->first) && it->second.phase != Phase::running)
        it = records.erase(it);
      else
        ++it;
    }
  }

  void queue_ahead(const WalPushBatch& batch, std::size_t max_ahead) {
    bool queued = false;
    for (const std::string& name : batch.ready) {
      if (records.size() >= max_ahead) break;
      if (name == batch.file || records.contains(name)) continue;
      Record r;
      r.id = next_id++;
      r.pusher = batch.pusher;
      queue.emplace_back(name, r.id);
      records.emplace(name, std::move(r));
      queued = true;
    }
    if (queued) changed.notify_all();
  }
};

WalPushQueue::WalPushQueue(int parallel) : parallel_(parallel), state_(std::make_shared<State>()) {
  if (parallel < 1)
    throw Error(ErrorKind::invalid_argument,
                "WAL archiving needs at least one push at a time, got " + std::to_string(parallel));
}

WalPushQueue::~WalPushQueue() {
  stop(kStopWait);
}

void WalPushQueue::start_threads() {
  if (!threads_.empty() || parallel_ == 1) return;
  for (int i = 0; i < parallel_ - 1; ++i) {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      ++state_->live_threads;
    }
    try {
      threads_.push_back(start_signal_blocked_thread([state = state_] { state->work(); }));
    } catch (...) {
      std::lock_guard<std::mutex> lock(state_->mu);
      --state_->live_threads;
      throw;
    }
  }
}

WalPushResult WalPushQueue::archive(const WalPushBatch& batch) {
  using Phase = State::Phase;
  State& s = *state_;
  if (!s.stopping) start_threads();
  std::unique_lock<std::mutex> lock(s.mu);
  s.adopt_settings(batch.settings_id);
  std::optional<WalPushResult> done;
  auto it = s.records.find(batch.file);
  if (it != s.records.end()) {
    const std::uint64_t id = it->second.id;
    // A push ahead of this very file is running: its result decides.
    s.changed.wait(lock, [&] {
      auto now = s.records.find(batch.file);
      return now == s.records.end() || now->second.id != id || now->second.phase != Phase::running;
    });
    it = s.records.find(batch.file);
    if (it != s.records.end() && it->second.id == id && it->second.phase == Phase::succeeded)
      done = std::move(it->second.result);
    // Queued (not started), failed or succeeded: the record is used up.
    if (it != s.records.end() && it->second.id == id) s.records.erase(it);
  }
  s.forget_unless_ready(batch.file, batch.ready);
  if (!s.stopping && parallel_ > 1) s.queue_ahead(batch, max_ahead());
  lock.unlock();
  if (done) return std::move(*done);
  return batch.pusher(batch.file);
}

std::size_t WalPushQueue::held_ahead() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->records.size();
}

bool WalPushQueue::stop(std::chrono::milliseconds wait) {
  State& s = *state_;
  bool all_ended = true;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.stopping = true;
    s.queue.clear();
    s.changed.notify_all();
    if (threads_.empty()) return true;  // none started, or left running by an earlier stop
    all_ended = s.changed.wait_for(lock, wait, [&] { return s.live_threads == 0; });
  }
  for (std::thread& t : threads_) {
    if (all_ended)
      t.join();  // it has left work() and only returns
    else
      t.detach();  // it holds the state it uses
  }
  threads_.clear();
  return all_ended;
}

}  // namespace pgvault
