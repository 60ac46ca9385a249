// Internal state of an open AuditStore, shared by the store's write path and its query path.
#pragma once

#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "audit/audit_store.h"
#include "audit/sqlite_util.h"
#include "base/file_trust.h"
#include "base/user_stop_shield.h"

namespace authpolicy::audit {

namespace internal {
// sqlite's WAL code retries some locks (the WAL index's, held by a process rebuilding it or
// starting a read) by sleeping through the VFS, about 10 s a statement, without asking the busy
// handler. The folder VFS's xSleep (folder_vfs.cpp) sleeps no further than the deadline set here
// for the calling thread (by every start of a store operation; time_point::max() lifts it), so
// those retries end at the operation's deadline too.
void limit_sleeps(std::chrono::steady_clock::time_point deadline) noexcept;
}  // namespace internal

struct AuditStore::Impl {
  // First member, so the last to end: from before the log's first lock until after the
  // connection and the folder are closed, the user this process acts for cannot stop it
  // (base/user_stop_shield.h; docs/audit.md, "A user who stops their own su").
  UserStopShield shield;
  std::string path;
  OpenOptions options;
  sqlite3* db = nullptr;
  // The checked folder of the log: sqlite opens the file, its -wal and -shm as
  // /proc/self/fd/FOLDER_FD/NAME, so they are the files in the folder the trust walk checked.
  int folder_fd = -1;
  // The same folder as the trust walk opened it (it owns folder_fd then): what the log's files
  // are created through (base/trusted_write.h). Not ok when ownership is not checked; folder_fd
  // is then a plain descriptor of its own.
  TrustedFile trusted_folder;
  std::string name;  // the database's file name in that folder
  int version = 0;
  std::int64_t folded = 0;  // decisions this open moved from the spool into the tables
  // Lock waits of the current operation end here (see busy_wait()).
  std::chrono::steady_clock::time_point deadline;
  std::uint64_t jitter_state = 0;
  bool deadline_from_open = false;  // the next write or count keeps the deadline open() started
  detail::Statement insert_decision;
  detail::Statement insert_factor;
  detail::Statement insert_unknown;

  ~Impl();
  // Starts an operation's bounded wait.
  void start_deadline() {
    deadline = std::chrono::steady_clock::now() + options.busy_timeout;
    internal::limit_sleeps(deadline);
  }
  bool time_left() const { return std::chrono::steady_clock::now() < deadline; }
  // Sleeps a short, jittered, growing pause, never past the deadline.
  void pause(int attempt);
  // ROLLBACK if a transaction is open; keeps the connection usable after any failure.
  void rollback_if_open() noexcept;
};

// The store's own helpers, shared by its files (audit_store_*.cpp, folder_vfs.cpp, spool_store.cpp).
namespace internal {

inline constexpr std::int64_t kAutoPruneEvery = 1000;  // decisions between retention passes
inline constexpr std::int64_t kAutoPruneBatch = 2000;  // at most this many old decisions a pass

// The status a failed file operation maps to: read_only, full or cannot_open.
StatusCode code_for_errno(int error);
// BEGIN IMMEDIATE, retried with pauses while the log is locked and the deadline allows; `what`
// names the operation in the failure.
Status begin_immediate(AuditStore::Impl& impl, const char* what);
// A short, jittered, growing pause before retry `attempt`, never past `deadline` (xorshift state
// in *jitter_state, seeded by jitter_seed()).
void pause_before_retry(int attempt, std::chrono::steady_clock::time_point deadline,
                        std::uint64_t* jitter_state);
std::uint64_t jitter_seed();
// sqlite's busy handler (context: the AuditStore::Impl): keeps waiting only while the operation's
// deadline allows.
int busy_wait(void* context, int attempt);
// The VFS the log is opened through (folder_vfs.cpp), registered on first use; nullptr when sqlite
// has no default VFS to build it on.
sqlite3_vfs* folder_vfs();

// The log's folder, walked and checked (options.check_ownership) into *trusted, which then owns
// the descriptor *fd names; otherwise opened plainly into *fd (the caller's to close).
Status open_folder(const std::string& folder, const OpenOptions& options, TrustedFile* trusted,
                   int* fd);
// The same, the descriptor always the caller's.
Status open_folder(const std::string& folder, const OpenOptions& options, int* fd);
// Creates the database (an empty WAL database, 0600) when missing: through base/trusted_write's
// write_new_at in a checked folder, so it appears whole or not at all.
Status ensure_file(const TrustedFile& trusted, int folder_fd, const std::string& name,
                   const std::string& path, bool* created);
// An empty (0-byte) database in the folder becomes the one ensure_file() writes, when this
// process may write it.
void fill_empty_database(int folder_fd, const std::string& name);
// Before sqlite opens the database: its companions (-wal, -shm, -journal) made (O_EXCL, 0600, the
// database's owner) or, where they exist, checked by descriptor; `database_missing`: a stale -wal
// or -journal is emptied.
Status prepare_companions(const TrustedFile& folder, const std::string& name,
                          const std::string& path, const OpenOptions& options,
                          bool database_missing);
// The database's owner and mode, looked at in the folder; *found (when given) gets what was seen.
Status check_owner_and_mode(int folder_fd, const std::string& name, const std::string& path,
                            const OpenOptions& options, struct stat* found = nullptr);
Status check_owner_and_mode(const struct stat& info, const std::string& path,
                            const OpenOptions& options);
// The files sqlite keeps beside the database (-wal, -shm, -journal), where they exist, held to
// the database's rules (a regular file with one name, the owner's, writable by nobody else):
// for a writer that appends to the spool and does not open sqlite. (Opening the store makes or
// checks them by descriptor first.)
Status check_companions(int folder_fd, const std::string& name, const std::string& path,
                        const OpenOptions& options);
bool valid_decision(const std::string& decision);
Status prepare_inserts(AuditStore::Impl& impl);
// Inserts one decision with its factors and unknowns inside the caller's transaction.
Status write_once(AuditStore::Impl& impl, const AuditRecord& record, std::int64_t time_us,
                  std::int64_t* id);
Status prune_batch(AuditStore::Impl& impl, std::int64_t before_us, std::int64_t batch,
                   std::int64_t* removed);
Status out_of_memory(const std::string& path);

// The spool beside the database "NAME": "NAME-spool".
std::string spool_name(const std::string& name);
// Whether the spool in the folder holds anything to fold (cheap: one fstatat).
bool spool_pending(int folder_fd, const std::string& name);
// Moves the spool's records into the tables (spool_store.cpp). Needs a writable connection at the
// current schema; waits for locks until the store's deadline.
Status fold_spool(AuditStore::Impl& impl);
// Rebuilds the tally (audit/tally.h) from the tables and the spool's records not yet in them,
// under the database's write lock and the spool's lock, changing neither; when it is current,
// does nothing. Needs a writable connection at the current schema.
Status rebuild_tally(AuditStore::Impl& impl);

}  // namespace internal
}  // namespace authpolicy::audit
