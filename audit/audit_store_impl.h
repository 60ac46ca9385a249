// Internal state of an open AuditStore, shared by the store's write path and its query path.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "audit/audit_store.h"
#include "audit/sqlite_util.h"

namespace authpolicy::audit {

struct AuditStore::Impl {
  std::string path;
  OpenOptions options;
  sqlite3* db = nullptr;
  // The checked folder of the log: sqlite opens the file, its -wal and -shm as
  // /proc/self/fd/FOLDER_FD/NAME, so they are the files in the folder the trust walk checked.
  int folder_fd = -1;
  int version = 0;
  // Lock waits of the current operation end here (see busy_wait()).
  std::chrono::steady_clock::time_point deadline;
  std::uint64_t jitter_state = 0;
  bool deadline_from_open = false;  // the next write or count keeps the deadline open() started
  detail::Statement insert_decision;
  detail::Statement insert_factor;
  detail::Statement insert_unknown;

  ~Impl();
  // Starts an operation's bounded wait.
  void start_deadline() { deadline = std::chrono::steady_clock::now() + options.busy_timeout; }
  bool time_left() const { return std::chrono::steady_clock::now() < deadline; }
  // Sleeps a short, jittered, growing pause, never past the deadline.
  void pause(int attempt);
  // ROLLBACK if a transaction is open; keeps the connection usable after any failure.
  void rollback_if_open() noexcept;
};

}  // namespace authpolicy::audit
