// Opening the audit log: its folder and files checked, sqlite set up through the folder VFS, the
// journal switched to WAL and the schema migrated; then waiting decisions folded from the spool,
// or the tally refreshed.
#include "audit/audit_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <new>
#include <system_error>

#include "audit/audit_store_impl.h"
#include "audit/schema.h"
#include "base/file_trust.h"

namespace authpolicy::audit {
namespace {

using internal::busy_wait;
using internal::check_owner_and_mode;
using internal::ensure_file;
using internal::fill_empty_database;
using internal::folder_vfs;
using internal::open_folder;
using internal::prepare_companions;

Status read_version(AuditStore::Impl& impl) {
  detail::Statement statement;
  int rc = statement.prepare(impl.db, "PRAGMA user_version");
  if (rc == SQLITE_OK) rc = statement.step();
  if (rc != SQLITE_ROW)
    return detail::sqlite_failure(impl.db, rc, "reading the audit log", impl.path);
  impl.version = static_cast<int>(statement.column_int(0));
  return Status::success();
}

// Switching a new file to WAL needs its exclusive lock. When processes race to create the log,
// sqlite answers SQLITE_BUSY at once rather than calling the busy handler (a connection holding a
// shared lock that waits for another's could deadlock), so the switch is retried here, within
// the same deadline.
Status ensure_wal(AuditStore::Impl& impl) {
  for (int attempt = 0;; ++attempt) {
    detail::Statement query;
    int rc = query.prepare(impl.db, "PRAGMA journal_mode");
    if (rc == SQLITE_OK) rc = query.step();
    const char* what = "reading journal mode";
    if (rc == SQLITE_ROW) {
      if (query.column_text(0) == "wal") return Status::success();
      query = detail::Statement();
      detail::Statement change;
      rc = change.prepare(impl.db, "PRAGMA journal_mode = WAL");
      if (rc == SQLITE_OK) rc = change.step();
      // A journal mode that could not be changed is answered with the old one.
      if (rc == SQLITE_ROW && change.column_text(0) == "wal") return Status::success();
      if (rc == SQLITE_ROW) rc = SQLITE_BUSY;
      what = "switching to WAL journal";
    }
    if ((rc & 0xff) == SQLITE_BUSY && impl.time_left()) {
      impl.pause(attempt);
      continue;
    }
    return detail::sqlite_failure(impl.db, rc, what, impl.path);
  }
}

// A log with decisions waiting in the spool is brought to the current schema even by a reader:
// folding them needs it.
Status migrate_if_needed(AuditStore::Impl& impl, bool folding) {
  if (impl.version == schema::kCurrentVersion) return Status::success();
  if (!folding && (!impl.options.migrate || impl.options.read_only)) return Status::success();
  Status status = internal::begin_immediate(impl, "starting the schema migration");
  if (!status.ok()) return status;
  // Another process may have migrated while we waited for the lock.
  status = read_version(impl);
  if (status.ok() && impl.version < schema::kCurrentVersion) {
    status = schema::migrate(impl.db, impl.version, schema::kCurrentVersion, impl.path);
  }
  if (status.ok()) {
    const int rc = detail::exec(impl.db, "COMMIT");
    if (rc != SQLITE_OK) {
      status = detail::sqlite_failure(impl.db, rc, "committing the schema migration", impl.path);
    }
  }
  if (!status.ok()) {
    impl.rollback_if_open();
    read_version(impl);
    return status;
  }
  impl.version = schema::kCurrentVersion;
  return Status::success();
}

Status open_impl(AuditStore::Impl& impl) {
  const auto& options = impl.options;
  if (impl.path.empty()) {
    return Status::failure(StatusCode::invalid_argument, "no audit database path given");
  }
  std::error_code no_folder;
  const std::filesystem::path absolute = std::filesystem::absolute(impl.path, no_folder);
  if (no_folder) {
    return Status::failure(StatusCode::cannot_open,
                           "cannot resolve " + impl.path + ": " + no_folder.message());
  }
  const std::string folder = absolute.parent_path().string();
  const std::string name = absolute.filename().string();
  if (name.empty() || name == "." || name == "..") {
    return Status::failure(StatusCode::invalid_argument, "not a file name: " + impl.path);
  }
  impl.name = name;
  Status status = open_folder(folder, options, &impl.trusted_folder, &impl.folder_fd);
  if (!status.ok()) return status;
  // Decisions waiting in the spool are moved into the tables before anything reads them, so even
  // a reader opens for writing then (and fails, like any unreadable log, when it cannot).
  const bool fold = options.fold_spool && internal::spool_pending(impl.folder_fd, name);
  const bool writable = !options.read_only || fold;
  bool created = false;
  if (options.create_if_missing && !options.read_only) {
    struct stat present {};
    Status companions = Status::success();
    if (options.check_ownership &&
        fstatat(impl.folder_fd, name.c_str(), &present, AT_SYMLINK_NOFOLLOW) != 0) {
      // A new log: its companions are made (or a stale -wal/-journal emptied) before the
      // database appears, so no process that opens the new log can find them half prepared.
      companions = prepare_companions(impl.trusted_folder, name, impl.path, options, true);
    }
    // The database is made even beside a refused companion: a log that exists with someone
    // else's -wal is refused by every reader (failures() unknown, the strict reading), where a
    // missing one would count as no failures.
    status = ensure_file(impl.trusted_folder, impl.folder_fd, name, impl.path, &created);
    if (!status.ok()) return status;
    if (!companions.ok()) return companions;
  }
  struct stat database {};
  status = check_owner_and_mode(impl.folder_fd, name, impl.path, options, &database);
  if (!status.ok()) return status;
  // The files sqlite names after the log are the log's too (H2 of issue #21): made or checked
  // here before sqlite opens any. Without ownership checks (`authpolicy audit` reading a copy,
  // verify), sqlite finds what is there.
  if (options.check_ownership) {
    if (database.st_size == 0) fill_empty_database(impl.folder_fd, name);
    status = prepare_companions(impl.trusted_folder, name, impl.path, options, false);
    if (!status.ok()) return status;
  }

  sqlite3_vfs* vfs = folder_vfs();
  if (vfs == nullptr) {
    return Status::failure(StatusCode::io_error, "cannot set up sqlite for " + impl.path);
  }
  const std::string through_folder = "/proc/self/fd/" + std::to_string(impl.folder_fd) + "/" + name;
  int flags = (writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) |
              SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(through_folder.c_str(), &impl.db, flags, vfs->zName);
  if (rc != SQLITE_OK)
    return detail::sqlite_failure(impl.db, rc, "opening the audit log", impl.path);
  sqlite3_extended_result_codes(impl.db, 1);
  sqlite3_busy_handler(impl.db, busy_wait, &impl);
  // Keep -wal and -shm after the last connection closes: a WAL database stays readable (for
  // failures()) when its file system later turns read-only, and they keep their 0600 mode.
  int persist_wal = 1;
  sqlite3_file_control(impl.db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
  // The PAM module opens one connection per decision, so most connections are the last one when
  // they close. sqlite would then checkpoint with two fsyncs per decision, and a new connection
  // must rebuild the WAL index from the whole WAL file. Instead: no checkpoint on close, and a
  // writer that finds a long WAL checkpoints it before writing (see checkpoint_if_long()).
  sqlite3_db_config(impl.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);

  if (options.max_pages > 0) {
    std::string sql = "PRAGMA max_page_count = " + std::to_string(options.max_pages);
    detail::exec(impl.db, sql.c_str());
  }
  detail::exec(impl.db, "PRAGMA foreign_keys = ON");
  if (writable) detail::exec(impl.db, "PRAGMA journal_size_limit = 0");
  detail::exec(impl.db,
               options.durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");

  status = read_version(impl);
  if (!status.ok()) return status;
  if (impl.version > schema::kCurrentVersion) {
    return Status::failure(StatusCode::schema_too_new,
                           "audit log schema version " + std::to_string(impl.version) +
                               " is newer than this build understands (" +
                               std::to_string(schema::kCurrentVersion) + "): " + impl.path);
  }
  if (writable && (options.migrate || fold)) {
    status = ensure_wal(impl);
    if (!status.ok()) return status;
  }
  status = migrate_if_needed(impl, fold);
  if (!status.ok()) return status;
  if (fold) return internal::fold_spool(impl);
  if (options.refresh_tally && !options.read_only) return internal::rebuild_tally(impl);
  return status;
}

}  // namespace

using internal::out_of_memory;

AuditStore::Impl::~Impl() {
  internal::limit_sleeps(std::chrono::steady_clock::time_point::max());
  insert_decision = detail::Statement();
  insert_factor = detail::Statement();
  insert_unknown = detail::Statement();
  if (db != nullptr) sqlite3_close_v2(db);
  // After the connection: sqlite reaches the -wal and -shm files through it until it closes.
  // (A checked folder's descriptor is trusted_folder's, closed after this, a member.)
  if (folder_fd >= 0 && !trusted_folder.ok()) ::close(folder_fd);
}

void AuditStore::Impl::rollback_if_open() noexcept {
  if (db != nullptr && sqlite3_get_autocommit(db) == 0) detail::exec(db, "ROLLBACK");
}

AuditStore::AuditStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditStore::~AuditStore() = default;

std::int64_t AuditStore::folded() const noexcept {
  return impl_->folded;
}
int AuditStore::schema_version() const noexcept {
  return impl_->version;
}
const std::string& AuditStore::path() const noexcept {
  return impl_->path;
}
const OpenOptions& AuditStore::options() const noexcept {
  return impl_->options;
}

AuditStore::OpenResult AuditStore::open(const std::string& path,
                                        const OpenOptions& options) noexcept {
  try {
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->options = options;
    impl->jitter_state = internal::jitter_seed();
    impl->start_deadline();
    Status status = open_impl(*impl);
    if (!status.ok()) return {std::move(status), nullptr};
    return {Status::success(), std::unique_ptr<AuditStore>(new AuditStore(std::move(impl)))};
  } catch (const std::bad_alloc&) {
    return {out_of_memory(path), nullptr};
  } catch (...) {
    return {Status::failure(StatusCode::io_error, "unexpected error opening " + path), nullptr};
  }
}

}  // namespace authpolicy::audit
