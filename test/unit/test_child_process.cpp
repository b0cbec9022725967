// ChildProcess against /bin/sh: stdin fed, stdout streamed or collected,
// stderr kept to its limit, the environment passed on, and a child never
// left behind.
#include "pgvault/error.hpp"
#include "pgvault/process/child_process.hpp"

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <csignal>

using namespace pgvault;
using namespace pgvault::test;

namespace {

TEST(ChildProcess, StdinIsFedAndStderrKeptToItsLimit) {
  ChildProcessOptions o;
  o.argv = {"/bin/sh", "-c", "cat; head -c 100000 /dev/zero | tr '\\0' e >&2; exit 3"};
  o.pipe_stdin = true;
  o.stderr_limit = 1000;
  ChildProcess p(o);
  p.write_stdin(as_bytes("hello"), nullptr);
  p.close_stdin();
  std::string out;
  std::vector<std::byte> buf(64);
  bool eof = false;
  while (!eof) {
    std::size_t n = p.read_stdout(buf, std::chrono::milliseconds(100), eof);
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  EXPECT_EQ(p.wait(nullptr), 3);
  EXPECT_EQ(out, "hello");
  EXPECT_EQ(p.stderr_text(), std::string(1000, 'e'));
  EXPECT_EQ(p.describe_exit(), "exited with status 3");
}

// The non-blocking stdin pipe takes buffers far larger than the pipe, in
// partial writes, whole and in order.
TEST(ChildProcess, LargeWritesToStdinArriveWhole) {
  ChildProcessOptions o;
  o.argv = {"/bin/sh", "-c", "sha256sum | cut -c1-64"};
  o.pipe_stdin = true;
  ChildProcess p(o);
  std::string data(5 * 1024 * 1024 + 7, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 % 253);
  int interrupt_checks = 0;
  p.write_stdin(as_bytes(data), [&] { ++interrupt_checks; });
  p.close_stdin();
  std::string out;
  std::vector<std::byte> buf(128);
  bool eof = false;
  while (!eof) {
    std::size_t n = p.read_stdout(buf, std::chrono::milliseconds(100), eof);
    out.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  EXPECT_EQ(p.wait(nullptr), 0);
  EXPECT_EQ(out.substr(0, 64), sha256_hex(data));
  EXPECT_GT(interrupt_checks, 0);
}

// A program name is looked up in $PATH only when asked: without it, a bare
// name is a path relative to the working directory, and is named when it
// cannot run.
TEST(ChildProcess, SearchPathFindsAProgramByName) {
  ChildProcessOptions o;
  o.argv = {"sh", "-c", "echo found"};
  o.search_path = true;
  const ProgramOutput r = run_to_end(o, nullptr);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.stdout_text, "found\n");

  o.argv = {"pgvault-no-such-program-anywhere"};
  expect_error([&] { run_to_end(o, nullptr); }, ErrorKind::io,
               "could not run pgvault-no-such-program-anywhere");
  o.argv = {"sh", "-c", "true"};
  o.search_path = false;
  expect_error([&] { run_to_end(o, nullptr); }, ErrorKind::io, "could not run sh");
}

// Inherited variables are dropped by prefix; `env` is applied afterwards, so
// it may set a variable of a dropped prefix.
TEST(ChildProcess, EnvironmentDropsPrefixesThenAdds) {
  ::setenv("PGVAULT_UNIT_INHERITED", "from the parent", 1);
  ::setenv("PGHOST_UNIT_INHERITED", "elsewhere", 1);
  ::setenv("UNIT_KEPT", "kept", 1);
  ChildProcessOptions o;
  o.argv = {"/bin/sh", "-c", "env | grep -E '^(PG|UNIT_KEPT)' | sort"};
  o.drop_env_prefixes = {"PG"};
  o.env = {{"PGCONNECT_TIMEOUT", "10"}, {"UNIT_KEPT", "replaced"}};
  const ProgramOutput r = run_to_end(o, nullptr);
  ::unsetenv("PGVAULT_UNIT_INHERITED");
  ::unsetenv("PGHOST_UNIT_INHERITED");
  ::unsetenv("UNIT_KEPT");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.stdout_text, "PGCONNECT_TIMEOUT=10\nUNIT_KEPT=replaced\n");
}

// run_to_end collects stdout whole (far more than a pipe holds, while the
// child also writes stderr) and says what the program said and how it ended.
TEST(ChildProcess, RunToEndCollectsOutputAndExit) {
  ChildProcessOptions o;
  o.argv = {"/bin/sh", "-c",
            "head -c 300000 /dev/zero | tr '\\0' o; echo; echo 'it broke' >&2; exit 4"};
  const ProgramOutput r = run_to_end(o, nullptr);
  EXPECT_EQ(r.status, 4);
  EXPECT_EQ(r.exit, "exited with status 4");
  EXPECT_EQ(r.stdout_text, std::string(300000, 'o') + "\n");
  EXPECT_EQ(r.trimmed_stdout(), std::string(300000, 'o'));
  EXPECT_EQ(r.stderr_text, "it broke");
  EXPECT_EQ(r.said(), std::string(300000, 'o') + "\nit broke");

  o.argv = {"/bin/sh", "-c", "echo ' only stderr ' >&2; kill -TERM $$"};
  const ProgramOutput killed = run_to_end(o, nullptr);
  EXPECT_EQ(killed.status, 128 + SIGTERM);
  EXPECT_EQ(killed.exit, "was killed by signal 15");
  EXPECT_EQ(killed.said(), " only stderr");
}

// An interrupt check that throws ends the wait: the exception reaches the
// caller and the child is killed and reaped, not left running.
TEST(ChildProcess, InterruptKillsAndReapsTheChild) {
  TempDir dir;
  const std::string pid_file = dir.str() + "/pid";
  ChildProcessOptions o;
  o.argv = {"/bin/sh", "-c",
            "echo $$ > " + pid_file + ".tmp && mv " + pid_file + ".tmp " + pid_file +
                " && exec sleep 600"};
  long pid = 0;
  auto interrupted = [&] {
    std::ifstream in(pid_file);
    if (in >> pid) throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(run_to_end(o, interrupted), std::runtime_error);
  ASSERT_GT(pid, 0);
  EXPECT_NE(::kill(static_cast<pid_t>(pid), 0), 0);
  EXPECT_EQ(errno, ESRCH);
}

}  // namespace
