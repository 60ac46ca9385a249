// The spool beside the audit database: appending a decision without opening sqlite, and folding
// what waits there into the tables (docs/audit.md, "The spool"; docs/cost.md for why).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "audit/audit_store.h"
#include "audit/audit_store_impl.h"
#include "audit/schema.h"
#include "audit/spool.h"
#include "audit/tally.h"
#include "audit/time_text.h"
#include "base/trusted_write.h"
#include "base/unique_fd.h"
#include "base/user_stop_shield.h"

namespace authpolicy::audit {
namespace {

using Clock = std::chrono::steady_clock;

// A writer folds when this much waits, or when the oldest waiting decision is this old, so that
// the tables stay close to current on a host that logs in now and then (docs/audit.md).
constexpr off_t kFoldBytes = 16 * 1024;
constexpr std::int64_t kFoldAgeUs = 60 * 1000000LL;
// Past this (about 40,000 decisions) the spool takes nothing more: the database has refused its
// decisions for long enough (each fold attempt says why in syslog), and the write fails like any
// other. It also bounds what a fold holds in memory, inside a host such as sshd.
constexpr off_t kMaxSpoolBytes = 16 * 1024 * 1024;
// The fold a writer attempts waits this long at most for the database: it is housekeeping, and
// other writers wait for the spool's lock while it runs.
constexpr std::chrono::milliseconds kWriterFoldWait{100};
constexpr const char kSqliteMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                         'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

std::string mode_text(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

Status errno_failure(int error, const std::string& what) {
  return Status::failure(internal::code_for_errno(error), what + ": " + std::strerror(error));
}

// The spool is held to the database's rules: a regular file with one name, owned by the log's
// owner, writable by nobody else.
Status check_spool(int fd, const std::string& spool_path, const OpenOptions& options,
                   struct stat* info) {
  if (fstat(fd, info) != 0) return errno_failure(errno, "cannot examine " + spool_path);
  if (!S_ISREG(info->st_mode) || info->st_nlink != 1) {
    return Status::failure(StatusCode::unsafe_file,
                           "not a regular file with one name: " + spool_path);
  }
  if (!options.check_ownership) return Status::success();
  if (info->st_uid != options.owner_uid || (info->st_mode & 022) != 0) {
    return Status::failure(StatusCode::unsafe_file,
                           spool_path + " is owned by uid " + std::to_string(info->st_uid) +
                               " or writable by group or others: refused");
  }
  // Private like the database's own decisions (0600): a spool others may read tells them who
  // logged in from where, and so would every decision appended to it.
  if ((info->st_mode & 077) != 0) {
    return Status::failure(StatusCode::unsafe_file,
                           spool_path + " is readable by group or others (mode " +
                               mode_text(info->st_mode) + ", expected 0600): refused");
  }
  return Status::success();
}

// Whether the spool open on `fd` is still the one the folder names: a file renamed away (a log
// rotation someone set up, say) would take records no reader ever folds.
bool still_named(int folder_fd, const std::string& name, const struct stat& info) {
  struct stat named {};
  return fstatat(folder_fd, internal::spool_name(name).c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
         named.st_ino == info.st_ino && named.st_dev == info.st_dev;
}

// Takes the spool's lock (flock: writers hold it for one write), waiting until `deadline` with
// the store's pauses.
Status lock_spool(int fd, Clock::time_point deadline, const std::string& spool_path) {
  std::uint64_t jitter_state = internal::jitter_seed();
  for (int attempt = 0;; ++attempt) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return Status::success();
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return errno_failure(errno, "cannot lock " + spool_path);
    }
    if (Clock::now() >= deadline) {
      return Status::failure(StatusCode::busy,
                             "the audit spool stayed locked past the wait limit: " + spool_path);
    }
    internal::pause_before_retry(attempt, deadline, &jitter_state);
  }
}

bool read_all(int fd, off_t size, std::string* out) {
  out->assign(static_cast<std::size_t>(size), '\0');
  std::size_t done = 0;
  while (done < out->size()) {
    const ssize_t n = pread(fd, out->data() + done, out->size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  out->resize(done);
  return done == static_cast<std::size_t>(size);
}

std::uint64_t new_generation() {
  std::uint64_t value = 0;
  if (getrandom(&value, sizeof value, GRND_NONBLOCK) == sizeof value && value != 0) return value;
  return static_cast<std::uint64_t>(now_utc_us()) ^ (static_cast<std::uint64_t>(getpid()) << 40);
}

// Inside the caller's transaction: the spool's records past what an earlier fold of the same
// spool generation stored (*generation: the spool's, for the progress mark).
Status unfolded_records(AuditStore::Impl& impl, const std::string& data, spool::Scan* scan,
                        std::int64_t* generation) {
  const auto header = spool::parse_header(data);
  *generation = header ? static_cast<std::int64_t>(header->generation) : std::int64_t{0};
  std::size_t from = header ? spool::kHeaderBytes : 0;
  detail::Statement progress;
  int rc = progress.prepare(impl.db,
                            "SELECT folded_bytes FROM spool_progress WHERE generation = ?1");
  if (rc != SQLITE_OK) {
    return detail::sqlite_failure(impl.db, rc, "reading the spool's progress", impl.path);
  }
  progress.bind(1, *generation);
  if (progress.step() == SQLITE_ROW) {
    const std::int64_t done = progress.column_int(0);
    if (done >= static_cast<std::int64_t>(from) && done <= static_cast<std::int64_t>(data.size())) {
      from = static_cast<std::size_t>(done);
    }
  }
  *scan = spool::scan_records(data, from);
  return Status::success();
}

// Inside the caller's transaction: the spool's records past what an earlier fold of the same
// spool generation stored, and the new progress mark.
Status store_records(AuditStore::Impl& impl, const std::string& data, std::int64_t* stored) {
  std::int64_t generation = 0;
  spool::Scan scan;
  Status status = unfolded_records(impl, data, &scan, &generation);
  if (!status.ok()) return status;
  int rc = SQLITE_OK;
  status = internal::prepare_inserts(impl);
  if (!status.ok()) return status;
  for (const auto& record : scan.records) {
    // A record the tables would refuse is skipped, never allowed to block the rest.
    if (!internal::valid_decision(record.decision)) continue;
    std::int64_t id = 0;
    const std::int64_t time_us = record.time_us != 0 ? record.time_us : now_utc_us();
    status = internal::write_once(impl, record, time_us, &id);
    if (!status.ok()) return status;
    ++*stored;
  }
  rc = detail::exec(impl.db, "DELETE FROM spool_progress");
  detail::Statement mark;
  if (rc == SQLITE_OK) {
    rc = mark.prepare(impl.db, "INSERT INTO spool_progress (generation, folded_bytes) "
                               "VALUES (?1, ?2)");
  }
  if (rc == SQLITE_OK) {
    mark.bind(1, generation);
    mark.bind(2, static_cast<std::int64_t>(data.size()));
    rc = mark.step() == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
  }
  if (rc != SQLITE_OK) {
    return detail::sqlite_failure(impl.db, rc, "recording the spool's progress", impl.path);
  }
  return Status::success();
}

// The database as a direct write would find it: owner, mode and a database header (a file
// someone overwrote is a failed write now, not a surprise when the spool is folded later).
// *missing: there is no database yet (or an empty one being created).
Status check_database(int folder_fd, const std::string& name, const std::string& path,
                      const OpenOptions& options, bool* missing) {
  *missing = false;
  UniqueFd fd(openat(folder_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) *missing = true;
    if (errno == ELOOP) {
      return Status::failure(StatusCode::unsafe_file,
                             "not a regular file (symbolic link or other): " + path);
    }
    return *missing ? Status::success() : errno_failure(errno, "cannot open " + path);
  }
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) return errno_failure(errno, "cannot examine " + path);
  Status status = internal::check_owner_and_mode(info, path, options);
  if (!status.ok()) return status;
  if (info.st_size == 0) {
    *missing = true;
    return Status::success();
  }
  char magic[sizeof kSqliteMagic];
  if (pread(fd.get(), magic, sizeof magic, 0) != static_cast<ssize_t>(sizeof magic) ||
      std::memcmp(magic, kSqliteMagic, sizeof magic) != 0) {
    return Status::failure(StatusCode::corrupt, "file is not a database: " + path);
  }
  return Status::success();
}

// Opens the spool in the checked folder (creating it, 0600, when missing), checks it by
// descriptor and takes its lock: *spool and *info describe the file the folder names.
Status open_locked_spool(const TrustedFile& folder, int folder_fd, const std::string& name,
                         const std::string& spool_path, const OpenOptions& options,
                         Clock::time_point deadline, UniqueFd* spool, struct stat* info) {
  // Created exclusively first: a spool this call creates is its own; one that exists is opened
  // without O_CREAT and judged by descriptor (someone else's is refused, never written to).
  // O_NONBLOCK: a FIFO put in its place would otherwise hang the host in open().
  constexpr int kSpoolFlags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  const std::string spool_file = internal::spool_name(name);
  spool->reset();
  if (folder.ok()) {  // a checked folder: through base/trusted_write, as every file we make
    const WriteResult made = create_exclusive_at(folder, spool_file, {geteuid(), getegid(), 0600},
                                                 *spool);
    if (made.ok() && fcntl(spool->get(), F_SETFL, O_APPEND | O_NONBLOCK) != 0) {
      return errno_failure(errno, "cannot open " + spool_path);
    }
    if (!made.ok() && made.status != WriteStatus::exists) {
      return Status::failure(made.error_number != 0 ? internal::code_for_errno(made.error_number)
                                                    : StatusCode::unsafe_file,
                             made.reason);
    }
  } else {
    *spool->out() = openat(folder_fd, spool_file.c_str(), kSpoolFlags | O_CREAT | O_EXCL, 0600);
    if (spool->get() < 0 && errno != EEXIST) return errno_failure(errno, "cannot open " + spool_path);
  }
  if (spool->get() < 0) *spool->out() = openat(folder_fd, spool_file.c_str(), kSpoolFlags);
  if (spool->get() < 0) return errno_failure(errno, "cannot open " + spool_path);
  Status status = check_spool(spool->get(), spool_path, options, info);
  if (status.ok()) status = lock_spool(spool->get(), deadline, spool_path);
  if (status.ok() && fstat(spool->get(), info) != 0) status = errno_failure(errno, spool_path);
  if (status.ok() && !still_named(folder_fd, name, *info)) {
    status = Status::failure(StatusCode::io_error,
                             "the audit spool was renamed or replaced while opening it: " +
                                 spool_path);
  }
  return status;
}

}  // namespace

namespace internal {

std::string spool_name(const std::string& name) {
  return name + "-spool";
}

bool spool_pending(int folder_fd, const std::string& name) {
  struct stat info {};
  if (fstatat(folder_fd, spool_name(name).c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) return false;
  // Anything but a regular file goes to fold_spool() too, which refuses it.
  return !S_ISREG(info.st_mode) || info.st_size > static_cast<off_t>(spool::kHeaderBytes);
}

Status fold_spool(AuditStore::Impl& impl) {
  const std::string spool_path = impl.path + "-spool";
  UniqueFd fd(openat(impl.folder_fd, spool_name(impl.name).c_str(),
                       O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::success();
    return errno_failure(errno, "cannot open " + spool_path);
  }
  struct stat info {};
  Status status = check_spool(fd.get(), spool_path, impl.options, &info);
  if (!status.ok()) return status;
  if (info.st_size <= static_cast<off_t>(spool::kHeaderBytes)) return Status::success();
  // The database's write lock first, then the spool's: writers hold the spool's lock only for
  // one write, so none of them waits while this waits for the database.
  status = internal::begin_immediate(impl, "moving spooled decisions into the log");
  if (!status.ok()) return status;
  status = lock_spool(fd.get(), impl.deadline, spool_path);
  std::int64_t stored = 0;
  if (status.ok() && fstat(fd.get(), &info) != 0) status = errno_failure(errno, spool_path);
  if (status.ok() && !still_named(impl.folder_fd, impl.name, info)) {
    status = Status::failure(StatusCode::busy, "the audit spool was replaced while folding it: " +
                                                   spool_path);
  }
  // Writers stop at kMaxSpoolBytes (plus their one record): anything larger was not written by
  // them, and is not read into the memory of the host that folds.
  if (status.ok() && info.st_size > kMaxSpoolBytes + static_cast<off_t>(spool::kRecordHeaderBytes +
                                                                         spool::kMaxPayloadBytes +
                                                                         spool::kHeaderBytes)) {
    status = Status::failure(StatusCode::corrupt,
                             "the audit spool is larger than writers make it: " + spool_path);
  }
  // The tally is kept through the fold (or rebuilt after it) with both locks held.
  std::optional<internal::TallyFold> tally;
  if (status.ok()) tally.emplace(impl, info);
  std::string data;
  if (status.ok() && !read_all(fd.get(), info.st_size, &data)) {
    status = Status::failure(StatusCode::io_error, "cannot read " + spool_path);
  }
  if (status.ok()) status = store_records(impl, data, &stored);
  if (status.ok()) {
    const int rc = detail::exec(impl.db, "COMMIT");
    if (rc != SQLITE_OK) {
      status = detail::sqlite_failure(impl.db, rc, "moving spooled decisions into the log",
                                      impl.path);
    }
  }
  if (!status.ok()) {
    impl.rollback_if_open();
    return status;
  }
  // Stored: the spool starts over. Should this fail, the progress mark keeps the next fold from
  // storing the same decisions again.
  if (ftruncate(fd.get(), 0) != 0) {
    // nothing more to do: see above
  }
  impl.folded += stored;
  if (impl.options.retention_seconds > 0 && stored > 0) {
    const auto last = sqlite3_last_insert_rowid(impl.db);
    if (last / kAutoPruneEvery != (last - stored) / kAutoPruneEvery) {
      std::int64_t removed = 0;
      prune_batch(impl, now_utc_us() - impl.options.retention_seconds * 1000000, kAutoPruneBatch,
                  &removed);
    }
  }
  tally->folded(fd.get());
  return Status::success();
}

Status rebuild_tally(AuditStore::Impl& impl) {
  if (impl.options.read_only || impl.version != schema::kCurrentVersion) return Status::success();
  const std::string spool_path = impl.path + "-spool";
  // The database's write lock, then the spool's, as a fold takes them: nothing changes the log
  // while the tally is read from it. Nothing is written, so the transaction is rolled back.
  Status status = internal::begin_immediate(impl, "rebuilding the audit tally");
  if (!status.ok()) return status;
  struct RollBack {
    AuditStore::Impl& impl;
    ~RollBack() { impl.rollback_if_open(); }
  } roll_back{impl};
  // Created (empty) when missing, as a writer would: its lock is what keeps writers out.
  UniqueFd fd;
  if (impl.trusted_folder.ok()) {
    const WriteResult made = create_exclusive_at(impl.trusted_folder, spool_name(impl.name),
                                                 {geteuid(), getegid(), 0600}, fd);
    if (!made.ok() && made.status != WriteStatus::exists) {
      return Status::failure(made.error_number != 0 ? internal::code_for_errno(made.error_number)
                                                    : StatusCode::unsafe_file,
                             made.reason);
    }
  }
  if (fd.get() < 0) {
    *fd.out() = openat(impl.folder_fd, spool_name(impl.name).c_str(),
                       O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  }
  if (fd.get() < 0) return errno_failure(errno, "cannot open " + spool_path);
  struct stat info {};
  status = check_spool(fd.get(), spool_path, impl.options, &info);
  if (status.ok()) status = lock_spool(fd.get(), impl.deadline, spool_path);
  if (status.ok() && fstat(fd.get(), &info) != 0) status = errno_failure(errno, spool_path);
  if (status.ok() && (!still_named(impl.folder_fd, impl.name, info) ||
                      info.st_size > kMaxSpoolBytes + static_cast<off_t>(
                                                          spool::kRecordHeaderBytes +
                                                          spool::kMaxPayloadBytes +
                                                          spool::kHeaderBytes))) {
    return Status::success();  // the next fold says what is wrong with it
  }
  if (!status.ok()) return status;
  TallyFold tally(impl, info);
  if (tally.current()) return Status::success();
  std::string data;
  if (!read_all(fd.get(), info.st_size, &data)) {
    return Status::failure(StatusCode::io_error, "cannot read " + spool_path);
  }
  spool::Scan scan;
  std::int64_t generation = 0;
  status = unfolded_records(impl, data, &scan, &generation);
  if (!status.ok()) return status;
  tally.rebuild(fd.get(), scan.records);
  return Status::success();
}

}  // namespace internal

Status append_decision(const std::string& path, const OpenOptions& options,
                       const AuditRecord& record, std::string* fold_problem) noexcept {
  try {
    if (!internal::valid_decision(record.decision)) {
      return Status::failure(
          StatusCode::invalid_argument,
          "audit record decision must be permit or deny, not \"" + record.decision + "\"");
    }
    if (options.read_only) {
      return Status::failure(StatusCode::read_only, "audit log opened read-only: " + path);
    }
    // From before the spool's lock (and the fold's locks) until after they are released, the
    // user this process acts for cannot stop it (base/user_stop_shield.h).
    const UserStopShield shield;
    const auto deadline = Clock::now() + options.busy_timeout;
    std::error_code no_folder;
    const std::filesystem::path absolute = std::filesystem::absolute(path, no_folder);
    const std::string name = absolute.filename().string();
    if (no_folder || path.empty() || name.empty() || name == "." || name == "..") {
      return record_decision(path, options, record);  // its messages say what is wrong
    }
    TrustedFile trusted;
    UniqueFd plain;  // the folder's descriptor when ownership is not checked
    int folder_fd = -1;
    Status status =
        internal::open_folder(absolute.parent_path().string(), options, &trusted, &folder_fd);
    if (!status.ok()) return status;
    if (!trusted.ok()) *plain.out() = folder_fd;
    bool missing = false;
    status = check_database(folder_fd, name, path, options, &missing);
    if (status.ok() && !missing && options.check_ownership) {
      status = internal::check_companions(folder_fd, name, path, options);
    }
    if (!status.ok()) return status;
    // No database yet (the first decision): written directly, which creates it.
    if (missing) return record_decision(path, options, record);

    AuditRecord stamped = record;
    if (stamped.time_us == 0) stamped.time_us = now_utc_us();
    if (stamped.decision_id.empty()) stamped.decision_id = new_decision_id();
    const std::string framed = spool::encode_record(stamped);
    if (framed.size() > spool::kRecordHeaderBytes + spool::kMaxPayloadBytes) {
      return record_decision(path, options, stamped);
    }
    const std::string spool_path = path + "-spool";
    UniqueFd spool;
    struct stat info {};
    status = open_locked_spool(trusted, folder_fd, name, spool_path, options, deadline, &spool, &info);
    if (!status.ok()) return status;
    if (info.st_size >= kMaxSpoolBytes) {
      // Full: the database refused the folds for a while. Writers drain it too (or every
      // `required = true` login would be denied until a reader came): moved into the log now,
      // within what is left of this decision's wait, and appended to after.
      spool.reset();
      OpenOptions folding = options;
      folding.create_if_missing = false;
      folding.busy_timeout = std::max(std::chrono::milliseconds(0),
                                      std::chrono::duration_cast<std::chrono::milliseconds>(
                                          deadline - Clock::now()));
      auto drained = AuditStore::open(path, folding);
      if (!drained.status.ok()) {
        return Status::failure(StatusCode::full,
                               "the audit spool is full and could not be moved into the log: " +
                                   drained.status.message);
      }
      drained.store.reset();
      status = open_locked_spool(trusted, folder_fd, name, spool_path, options, deadline, &spool, &info);
      if (!status.ok()) return status;
      if (info.st_size >= kMaxSpoolBytes) {
        return Status::failure(StatusCode::full, "the audit spool is full: " + spool_path);
      }
    }
    // The tally beside the log takes the decision too, under the same lock (audit/tally.h).
    tally::SpoolWriter tally(folder_fd, name, options, info);
    std::string bytes;
    std::int64_t first_time_us = stamped.time_us;
    if (info.st_size < static_cast<off_t>(spool::kHeaderBytes)) {
      // Empty (or a header cut short by a crash): this spool generation starts here.
      if (info.st_size > 0 && ftruncate(spool.get(), 0) != 0) {
        return errno_failure(errno, "cannot reset " + spool_path);
      }
      info.st_size = 0;
      bytes = spool::encode_header({new_generation(), stamped.time_us});
    } else {
      char head[spool::kHeaderBytes];
      if (pread(spool.get(), head, sizeof head, 0) == static_cast<ssize_t>(sizeof head)) {
        if (auto header = spool::parse_header(std::string_view(head, sizeof head))) {
          first_time_us = header->first_time_us;
        }
      }
    }
    bytes += framed;
    ssize_t written = 0;
    do {
      written = write(spool.get(), bytes.data(), bytes.size());
    } while (written < 0 && errno == EINTR);
    if (written != static_cast<ssize_t>(bytes.size())) {
      const int error = written < 0 ? errno : ENOSPC;
      // Never leave half a record: cut the file back to where this write began.
      if (ftruncate(spool.get(), info.st_size) != 0) {
        // the next reader skips the damaged tail (spool.h)
      }
      return errno_failure(error, "audit write failed: " + spool_path);
    }
    if (options.durable && fdatasync(spool.get()) != 0) {
      return errno_failure(errno, "audit write failed (fdatasync): " + spool_path);
    }
    tally.appended(stamped, spool.get());
    const off_t size = info.st_size + static_cast<off_t>(bytes.size());
    const bool fold_due = size >= kFoldBytes || stamped.time_us - first_time_us >= kFoldAgeUs;
    // A tally that could not be kept is rebuilt now (from the tables and the spool, which stays
    // as it is), not at the next fold: until then every failures() goes to sqlite.
    if (!fold_due && !tally.wants_rebuild()) return Status::success();
    // The decision is stored; moving the spool into the tables is housekeeping, done after the
    // spool's lock is released (the fold takes the database's lock first).
    spool.reset();
    OpenOptions folding = options;
    folding.create_if_missing = false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    folding.busy_timeout = std::max(std::chrono::milliseconds(0), std::min(left, kWriterFoldWait));
    folding.fold_spool = fold_due;  // a fold keeps or rebuilds the tally itself
    folding.refresh_tally = !fold_due;
    auto opened = AuditStore::open(path, folding);
    if (!opened.status.ok() && fold_problem != nullptr) *fold_problem = opened.status.message;
    return Status::success();
  } catch (const std::bad_alloc&) {
    return internal::out_of_memory(path);
  } catch (...) {
    return Status::failure(StatusCode::io_error, "unexpected error writing " + path);
  }
}

}  // namespace authpolicy::audit
