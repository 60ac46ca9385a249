// Results of audit store operations, and what a decision becomes when its audit write failed.
#pragma once

#include <string>
#include <string_view>

namespace authpolicy::audit {

// Why an operation failed; the message says it in words (with the sqlite error and the path).
enum class StatusCode {
  ok,
  busy,              // the log stayed locked past the bounded wait
  read_only,         // file, folder or file system not writable (or process not root)
  corrupt,           // not a database, or a damaged one
  full,              // disk full or the page-count limit reached
  cannot_open,       // missing folder, permission denied, not a regular file
  unsafe_file,       // wrong owner or writable by others: refused
  schema_too_new,    // written by a newer authpolicy
  invalid_argument,  // the caller's record or query is malformed
  io_error,
};

struct Status {
  StatusCode code = StatusCode::ok;
  std::string message;  // empty when ok

  bool ok() const noexcept { return code == StatusCode::ok; }
  static Status success() { return {}; }
  static Status failure(StatusCode code, std::string message) { return {code, std::move(message)}; }
};

std::string_view to_string(StatusCode code) noexcept;

// What the caller must do with a decision once its audit write has a status.
enum class AfterWrite {
  keep_decision,           // written: nothing more to do
  keep_decision_and_warn,  // best effort: the decision stands, send write_failure_line() to syslog
  deny_and_warn,           // `audit { required = true }`: the decision becomes deny; syslog too
};

// The single place where best-effort versus required is decided (architecture: failure rules).
AfterWrite after_write(const Status& write_status, bool required) noexcept;

// One syslog line for a failed write, naming the consequence, e.g.
// "audit write failed (best effort, decision stands): database is locked [busy] (/var/...)".
std::string write_failure_line(const Status& write_status, bool required);

}  // namespace authpolicy::audit
