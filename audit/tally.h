// The tally: what failures() and recent() read from the audit log, kept per user beside it, so a
// login reads one small file instead of opening sqlite (docs/audit.md, "The tally").
//
// The log (tables and spool) stays the record of truth. The tally is derived from it and
// rebuilt from it whenever it cannot prove it matches: its state file names the database, -wal
// and spool it matches (inode, size, modification time), and a reader that finds any of them
// different, a tally from before the last boot, a damaged file or one with the wrong owner or
// mode, asks the log instead. Writers append to the tally under the spool's lock, in the same
// critical section as the spool record; a fold keeps it (the decisions only move) or rebuilds it
// from the tables. Readers take no lock at all: they read the state, the user's file and the
// state again, and retry or fall back to the log when anything moved.
//
// Layout, in the log's folder: "<db>-tally/" (0700, the log's owner) holding "state" and one
// file per user, "u-" + the first 32 hex digits of the SHA-256 of the name (0600).
//
// Error contract: nothing here throws or fails a decision; any problem means "ask the log".
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_record.h"
#include "audit/audit_store.h"
#include "audit/recent_pass.h"

namespace authpolicy::audit::tally {

// A rebuild reads this much of the past from the tables; compaction keeps at least this much
// (and an hour more). A window reaching further back than the tally holds is answered by the log.
inline constexpr std::int64_t kHorizonUs = 24LL * 3600 * 1000000;

// Why the tally did not answer.
enum class Miss {
  unusable,  // absent, stale, refused, damaged, or the log held exclusively: ask the log, and
             // write the decision there (the tally is rebuilt after that write)
  window,    // current, but the window reaches before what it holds for this user: ask the log;
             // the decision's record still goes to the spool, which keeps the tally current
};

// failures() from the tally, or nullopt (and *why): then only the log can answer
// (audit::count_failures).
std::optional<FailureCount> count_failures(const std::string& path, const OpenOptions& options,
                                           const FailureQuery& query,
                                           Miss* why = nullptr) noexcept;

// recent() from the tally, or nullopt (and *why): then only the log can answer
// (find_recent_pass).
std::optional<RecentPass> find_recent_pass(const std::string& path, const OpenOptions& options,
                                           const RecentPassQuery& query,
                                           Miss* why = nullptr) noexcept;

// The folder's tally name for the database file `name`.
std::string folder_name(const std::string& name);

// A spool writer's part (append_decision), with the spool's lock held from construction to the
// last call: `spool` is the locked spool's fstat before the append.
class SpoolWriter {
 public:
  SpoolWriter(int folder_fd, const std::string& name, const OpenOptions& options,
              const struct stat& spool) noexcept;
  ~SpoolWriter();
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;

  // The record is in the spool (still locked, `spool_fd`): adds it to the user's file.
  void appended(const AuditRecord& record, int spool_fd) noexcept;
  // The tally could not be kept (it was absent, stale or the update failed) and may be rebuilt
  // now (OpenOptions::refresh_tally): not retried within 10 minutes of a rebuild that failed.
  bool wants_rebuild() const noexcept { return wants_rebuild_; }

 private:
  int dir_fd_ = -1;
  int state_fd_ = -1;
  int folder_fd_ = -1;
  const OpenOptions* options_ = nullptr;
  bool keeping_ = false;
  bool wants_rebuild_ = false;
  std::string state_bytes_;
};

}  // namespace authpolicy::audit::tally

namespace authpolicy::audit::internal {

// The tally's part in a fold (fold_spool) or a rebuild (rebuild_tally): created inside the
// write transaction with the spool's lock held (`spool`: its fstat). A fold calls folded() after
// COMMIT, the spool emptied and any pruning: the tally is kept when it matched the log before
// (the decisions only moved), else rebuilt from the tables.
class TallyFold {
 public:
  TallyFold(AuditStore::Impl& impl, const struct stat& spool) noexcept;
  ~TallyFold();
  TallyFold(const TallyFold&) = delete;
  TallyFold& operator=(const TallyFold&) = delete;
  // Whether the tally matched the log when this was created.
  bool current() const noexcept { return was_current_; }
  void folded(int spool_fd) noexcept;
  // Writes the tally anew from the tables and `pending` (the spool's records not in them).
  void rebuild(int spool_fd, const std::vector<AuditRecord>& pending) noexcept;

 private:
  AuditStore::Impl& impl_;
  int dir_fd_ = -1;
  int state_fd_ = -1;
  bool usable_ = false;
  bool was_current_ = false;
  std::int64_t data_version_ = -1;
  std::string state_bytes_;
};

}  // namespace authpolicy::audit::internal
