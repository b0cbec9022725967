// BackgroundTask: work beside the caller, on a thread that takes no signal.
#include "pgvault/thread.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <stdexcept>

#include <pthread.h>

namespace pgvault {
namespace {

TEST(BackgroundTask, WaitReturnsWhenTheBodyIsDoneAndRethrowsWhatItThrew) {
  int value = 0;
  BackgroundTask fine([&] { value = 42; });
  fine.wait();
  EXPECT_EQ(value, 42);
  fine.wait();  // joined already: nothing again

  BackgroundTask failing([] { throw std::runtime_error("the parent's manifest is damaged"); });
  EXPECT_THROW(
      {
        try {
          failing.wait();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "the parent's manifest is damaged");
          throw;
        }
      },
      std::runtime_error);
  EXPECT_NO_THROW(failing.wait());  // thrown once
}

TEST(BackgroundTask, TheBodyRunsWithEverySignalBlocked) {
  sigset_t seen;
  sigemptyset(&seen);
  BackgroundTask task([&] { pthread_sigmask(SIG_SETMASK, nullptr, &seen); });
  task.wait();
  // Inside a backend, SIGTERM, SIGINT and SIGUSR1 belong to the main thread.
  EXPECT_EQ(sigismember(&seen, SIGTERM), 1);
  EXPECT_EQ(sigismember(&seen, SIGINT), 1);
  EXPECT_EQ(sigismember(&seen, SIGUSR1), 1);
  // ... and the caller's own mask is left as it was.
  sigset_t mine;
  pthread_sigmask(SIG_SETMASK, nullptr, &mine);
  EXPECT_EQ(sigismember(&mine, SIGUSR1), 0);
}

TEST(BackgroundTask, TheDestructorWaitsAndDropsAFailureNobodyAskedFor) {
  std::atomic<bool> done{false};
  {
    BackgroundTask task([&] {
      done = true;
      throw std::runtime_error("dropped: the caller is unwinding from its own failure");
    });
  }
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace pgvault
