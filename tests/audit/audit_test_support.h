// Shared helpers for the audit tests: temporary folders, sample records, child processes.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "audit/audit_record.h"
#include "audit/time_text.h"
#include "tests/support/temp_folder.h"

namespace authpolicy::audit::testing {

// A private (0700) temporary folder, removed with everything in it.
using TempFolder = authpolicy::test_support::TempFolder;

// A minute in the records' microseconds.
constexpr std::int64_t kMinute = 60LL * 1000000;

inline AuditRecord sample_record(std::string user, std::string decision, std::int64_t time_us = 0,
                                 std::string rhost = "203.0.113.7") {
  AuditRecord record;
  record.time_us = time_us != 0 ? time_us : now_utc_us();
  record.service = "sshd";
  record.user = std::move(user);
  record.ruser = "";
  record.rhost = std::move(rhost);
  record.tty = "ssh";
  record.policy_path = "/etc/authpolicy/sshd.pol";
  record.policy_sha256 = std::string(64, 'a');
  record.decision = std::move(decision);
  record.reason = record.decision == "deny" ? "password failed" : "password and totp passed";
  record.duration_us = 12345;
  record.pid = getpid();
  record.password_asked = true;
  record.factors.push_back({"password", record.decision == "deny" ? "fail" : "pass", "", 1000});
  if (record.decision == "permit") record.factors.push_back({"totp", "pass", "", 2000});
  return record;
}

struct ChildResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string output;  // what the child wrote to its report pipe
};

// Runs `body` in a forked process (a real, separate process with its own sqlite connections).
// The child writes the returned text to a pipe and exits 0; a crash shows up as `signal`.
inline ChildResult run_in_child(const std::function<std::string()>& body) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) std::abort();
  pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    std::string report = body();
    std::size_t written = 0;
    while (written < report.size()) {
      ssize_t n = write(pipe_fds[1], report.data() + written, report.size() - written);
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
    close(pipe_fds[1]);
    _exit(0);
  }
  close(pipe_fds[1]);
  ChildResult result;
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

}  // namespace authpolicy::audit::testing
