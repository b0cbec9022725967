#pragma once
#include "pgvault/pg_free.hpp"

#include <functional>
#include <thread>

namespace pgvault {

// Starts a thread with every signal blocked. Core code also runs inside
// PostgreSQL backends, whose signal handlers must only ever run on the main
// thread (they set latches and flags the main thread acts on).
std::thread start_signal_blocked_thread(std::function<void()> body);

}  // namespace pgvault
