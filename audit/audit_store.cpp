// Opening (create, check, migrate) the audit database and writing decisions with bounded waits.
#include "audit/audit_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <thread>

#include "audit/audit_store_impl.h"
#include "audit/schema.h"
#include "audit/time_text.h"
#include "base/address.h"
#include "base/file_trust.h"
#include "base/trusted_write.h"
#include "base/unique_fd.h"

namespace authpolicy::audit {
namespace {

constexpr off_t kCheckpointFrames = 64;  // WAL frames before a writer checkpoints (docs/cost.md)
constexpr off_t kWalFrameBytes = 4096 + 24;  // a frame of the default page size, with its header

std::string errno_text(int error) {
  return std::strerror(error);
}

std::string octal_mode(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

// sqlite's busy handler: keeps waiting only while the operation's deadline allows.
int busy_wait(void* context, int attempt) {
  auto* impl = static_cast<AuditStore::Impl*>(context);
  if (!impl->time_left()) return 0;
  impl->pause(attempt);
  return 1;
}

// Keeps the WAL short, so that opening stays cheap: a connection that finds no other one open
// (the usual case: one per login) rebuilds the WAL index by reading and checksumming every valid
// WAL frame, ~3 us each (docs/cost.md). Before its own write, a writer that finds a long WAL
// copies it into the database with a passive checkpoint, which takes no write lock and never
// waits (copy and fsyncs run beside other writers). When that copied everything, the write that
// follows starts the WAL over from its first frame (sqlite restarts it when all of it is in the
// database and no reader still uses it), and `journal_size_limit = 0` then cuts the file down to
// that transaction's frames, so the file's size tracks the WAL's length. When other writers
// appended meanwhile or a reader holds an old snapshot, nothing is restarted and the next writer
// tries again. (A checkpoint after the write cannot restart the WAL: the next process's
// recovery forgets what was copied. A truncating checkpoint would hold the write lock while it
// copies, with fsyncs, what others appended since.)
void checkpoint_if_long(AuditStore::Impl& impl) {
  // The WAL file this connection uses (the one in the checked folder), not a name.
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(impl.db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
      wal == nullptr || wal->pMethods == nullptr) {
    return;
  }
  sqlite3_int64 size = 0;
  if (wal->pMethods->xFileSize(wal, &size) != SQLITE_OK) return;
  if (size < kCheckpointFrames * kWalFrameBytes) return;
  sqlite3_busy_handler(impl.db, nullptr, nullptr);
  sqlite3_wal_checkpoint_v2(impl.db, "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  sqlite3_busy_handler(impl.db, busy_wait, &impl);
}

// sqlite names files by path, and its unix VFS re-resolves every symlink in a name by text
// (readlink), /proc/self/fd/N included. This VFS is the default one except that a name is taken
// as given: "/proc/self/fd/N/audit.db" then reaches the database, its -wal and its -shm through
// the folder descriptor the trust walk checked, whatever is renamed on the path meanwhile.
constexpr const char* kFolderVfsName = "authpolicy-folder-fd";

int name_as_given(sqlite3_vfs*, const char* name, int size, char* out) {
  const std::size_t length = std::strlen(name);
  if (name[0] != '/' || length + 1 > static_cast<std::size_t>(size)) return SQLITE_CANTOPEN;
  std::memcpy(out, name, length + 1);
  return SQLITE_OK;
}

// The deadline of the operation this thread runs in the log (internal::limit_sleeps).
thread_local std::chrono::steady_clock::time_point sleep_deadline =
    std::chrono::steady_clock::time_point::max();
int (*base_sleep)(sqlite3_vfs*, int) = nullptr;

// sqlite's sleeps, never past the current operation's deadline. sqlite sleeps through the VFS
// where it retries without the busy handler: opening a read transaction on a WAL whose index
// another process holds (walTryBeginRead: ~100 retries, ~10 s in all, per statement). Past the
// deadline every retry comes at once, so the statement fails (SQLITE_PROTOCOL) within a
// millisecond instead.
int sleep_within_deadline(sqlite3_vfs* vfs, int microseconds) {
  if (sleep_deadline != std::chrono::steady_clock::time_point::max()) {
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        sleep_deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    if (left.count() < microseconds) microseconds = static_cast<int>(left.count());
  }
  return base_sleep(vfs, microseconds);
}

sqlite3_vfs* folder_vfs() {
  static sqlite3_vfs vfs{};
  static bool ready = [] {
    sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
    if (base == nullptr || base->xSleep == nullptr) return false;
    vfs = *base;  // pAppData too: the unix VFS keeps its locking-style finder there
    vfs.pNext = nullptr;
    vfs.zName = kFolderVfsName;
    vfs.xFullPathname = name_as_given;
    base_sleep = base->xSleep;
    vfs.xSleep = sleep_within_deadline;
    return sqlite3_vfs_register(&vfs, 0) == SQLITE_OK;
  }();
  return ready ? &vfs : nullptr;
}

// Who may own the audit folder and everything above it besides root: the configured owner, and
// a process other than root (the CLI run by a user, a test) trusts folders it owns itself.
TrustRules folder_rules(const OpenOptions& options) {
  TrustRules rules;
  rules.folder = true;
  if (options.owner_uid != 0) rules.extra_owners.push_back(options.owner_uid);
  if (geteuid() != 0 && geteuid() != options.owner_uid) rules.extra_owners.push_back(geteuid());
  return rules;
}

Status folder_failure(const TrustedFile& walked, const std::string& folder) {
  if (walked.status == TrustStatus::unsafe) {
    return Status::failure(StatusCode::unsafe_file,
                           "audit folder " + folder + " refused: " + walked.reason);
  }
  const int error = walked.error_number;
  return Status::failure(error == EACCES ? StatusCode::read_only : StatusCode::cannot_open,
                         "cannot reach folder " + folder + ": " + walked.reason);
}

}  // namespace

namespace internal {

void limit_sleeps(std::chrono::steady_clock::time_point deadline) noexcept {
  sleep_deadline = deadline;
}

StatusCode code_for_errno(int error) {
  if (error == EACCES || error == EROFS || error == EPERM) return StatusCode::read_only;
  if (error == ENOSPC || error == EDQUOT || error == EFBIG) return StatusCode::full;
  return StatusCode::cannot_open;
}

std::uint64_t jitter_seed() {
  return (static_cast<std::uint64_t>(getpid()) << 32) ^ static_cast<std::uint64_t>(now_utc_us()) ^
         0x9e3779b97f4a7c15ull;
}

void pause_before_retry(int attempt, std::chrono::steady_clock::time_point deadline,
                        std::uint64_t* jitter_state) {
  // Writers hold the lock for a fraction of a millisecond, so short pauses keep throughput high;
  // growth and jitter keep many waiting processes from retrying in lockstep.
  std::uint64_t& state = *jitter_state;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  int shift = attempt < 4 ? attempt : 4;
  auto base = std::chrono::microseconds(50 << shift);  // 0.05 ms .. 0.8 ms
  auto jitter = std::chrono::microseconds(state % static_cast<std::uint64_t>(base.count()));
  auto wait = base / 2 + jitter;
  auto remaining = std::chrono::duration_cast<std::chrono::microseconds>(
      deadline - std::chrono::steady_clock::now());
  if (remaining.count() <= 0) return;
  std::this_thread::sleep_for(wait < remaining ? wait : remaining);
}

// Opens the folder of the log by descriptor (into *fd): with ownership checks, through the trust
// walk (every folder from / owned by root or the owner, none writable by group or others),
// creating the last one (0700) below a checked parent when asked. Without them (`authpolicy
// audit verify` reports problems itself), a plain open.
Status open_folder(const std::string& folder, const OpenOptions& options, TrustedFile* trusted,
                   int* fd) {
  if (!options.check_ownership) {
    *fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd >= 0) return Status::success();
    const int error = errno;
    return Status::failure(error == EACCES ? StatusCode::read_only : StatusCode::cannot_open,
                           "cannot reach folder " + folder + ": " + errno_text(error));
  }
  const TrustRules rules = folder_rules(options);
  TrustedFile walked = open_trusted(folder, rules);
  const bool create = options.create_if_missing && !options.read_only;
  if (!walked.ok() && walked.status == TrustStatus::missing && create &&
      walked.error_number == ENOENT) {
    const auto slash = folder.rfind('/');
    const std::string parent = slash == 0 ? "/" : folder.substr(0, slash);
    const std::string leaf = folder.substr(slash + 1);
    TrustedFile above = open_trusted(parent, rules);
    if (above.status == TrustStatus::missing) {
      // Only the last folder is created: a missing parent is an error.
      return Status::failure(StatusCode::cannot_open,
                             "cannot create folder " + folder + ": " + errno_text(ENOENT));
    }
    if (!above.ok()) return folder_failure(above, parent);
    // Made and opened relative to the checked parent (base/file_trust.h), checked like the walk.
    walked = make_folder_at(above, leaf, 0700, rules);
    const int error = walked.error_number;
    if (!walked.ok() && walked.status != TrustStatus::unsafe && error != 0) {
      StatusCode code = (error == EACCES || error == EROFS || error == EPERM)
                            ? StatusCode::read_only
                            : StatusCode::cannot_open;
      return Status::failure(code, "cannot create folder " + folder + ": " + errno_text(error));
    }
  }
  if (!walked.ok()) return folder_failure(walked, folder);
  *trusted = std::move(walked);
  *fd = trusted->fd();
  return Status::success();
}

Status open_folder(const std::string& folder, const OpenOptions& options, int* fd) {
  TrustedFile trusted;
  Status status = open_folder(folder, options, &trusted, fd);
  if (status.ok() && trusted.ok()) *fd = trusted.release();
  return status;
}

}  // namespace internal

namespace {

// What a new log starts as: an empty database of one 4096-byte page whose header already says
// WAL (file format 2), as sqlite itself writes it when an empty file is switched to WAL. sqlite
// treats an empty (0-byte) database specially: it deletes the -wal it finds beside it, and it
// writes the switch to WAL through a rollback journal it creates and deletes, and each of those
// leaves a name free that anyone who may write the folder could take (a sticky folder). A log
// that is a WAL database from its first byte never goes through either.
std::string initial_database() {
  std::string page(4096, '\0');
  auto put32 = [&page](std::size_t at, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) page[at + i] = static_cast<char>(value >> (24 - 8 * i));
  };
  std::memcpy(page.data(), "SQLite format 3", 16);  // with its NUL
  page[16] = 0x10;                                  // page size 4096, big-endian
  page[17] = 0x00;
  page[18] = 2;  // write version: WAL
  page[19] = 2;  // read version: WAL
  page[21] = 64;  // maximum, minimum and leaf payload fractions (fixed values)
  page[22] = 32;
  page[23] = 32;
  put32(24, 1);   // file change counter
  put32(28, 1);   // database size in pages
  put32(44, 4);   // schema format
  put32(56, 1);   // text encoding UTF-8
  put32(92, 1);   // the change counter the size is valid for
  put32(96, static_cast<std::uint32_t>(sqlite3_libversion_number()));
  page[100] = 0x0d;  // page 1: an empty table b-tree leaf, cell content from the page's end
  page[105] = 0x10;
  page[106] = 0x00;
  return page;
}

bool write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

namespace internal {

// Creates the database file with mode 0600 (sqlite would use 0644, and gives -wal and -shm the
// database's mode), as initial_database(). In a checked folder through write_new_at (a temporary
// file renamed into place only when the name is free), so no process ever finds it half written;
// otherwise (ownership not checked) written in an unnamed file and then given its name, which
// fails when the name exists. *created: this call made it.
Status ensure_file(const TrustedFile& trusted, int folder_fd, const std::string& name,
                   const std::string& path, bool* created) {
  *created = false;
  // The usual case, one system call: the log exists (what it is is checked next).
  struct stat existing {};
  if (fstatat(folder_fd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
    return Status::success();
  }
  const std::string image = initial_database();
  if (trusted.ok()) {
    const WriteResult written =
        write_new_at(trusted, name, image, NewFile{geteuid(), getegid(), 0600});
    if (written.status == WriteStatus::exists) return Status::success();  // another made it
    if (!written.ok()) {
      const int error = written.error_number;
      if (error != 0) return Status::failure(code_for_errno(error), written.reason);
      return Status::failure(StatusCode::unsafe_file, written.reason);
    }
    *created = true;
    return Status::success();
  }
  UniqueFd fd(::openat(folder_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd.get() >= 0) {
    if (!write_all(fd.get(), image) || fdatasync(fd.get()) != 0) {
      const int error = errno;
      return Status::failure(code_for_errno(error),
                             "cannot create " + path + ": " + errno_text(error));
    }
    const std::string unnamed = "/proc/self/fd/" + std::to_string(fd.get());
    if (linkat(AT_FDCWD, unnamed.c_str(), folder_fd, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      *created = true;
      return Status::success();
    }
    if (errno == EEXIST) return Status::success();
    if (errno != ENOENT) {  // ENOENT: no /proc; any other: the link itself failed
      const int error = errno;
      return Status::failure(code_for_errno(error),
                             "cannot create " + path + ": " + errno_text(error));
    }
  } else if (errno == EEXIST) {
    return Status::success();
  }
  // No unnamed files on this file system (or no /proc): created by name, then written.
  fd.reset();
  *fd.out() =
      ::openat(folder_fd, name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd.get() < 0) {
    if (errno == EEXIST) return Status::success();
    const int error = errno;
    return Status::failure(code_for_errno(error),
                           "cannot create " + path + ": " + errno_text(error));
  }
  *created = true;
  if (!write_all(fd.get(), image)) {
    const int error = errno;
    return Status::failure(code_for_errno(error), "cannot create " + path + ": " + errno_text(error));
  }
  return Status::success();
}

}  // namespace internal

namespace {

using internal::code_for_errno;

// An empty (0-byte) database, as an older release or another tool creates it, becomes
// initial_database() before sqlite opens it, for the reasons given there. Every writer writes the
// same bytes, so processes doing it at once agree. Left as it is when this process may not write
// it (sqlite then opens it as before).
void fill_empty_database(int folder_fd, const std::string& name) {
  UniqueFd fd(::openat(folder_fd, name.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat info {};
  if (fd.get() < 0 || fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_size != 0) {
    return;
  }
  write_all(fd.get(), initial_database());
}

// The files sqlite keeps beside the database, named after it. sqlite opens each by name, with
// O_CREAT, and when it runs as root gives it the database's owner: in a folder others may write
// (a sticky one such as /tmp), a file someone else made first would be used, their descriptor on
// it still open, to read decisions and to empty the log. -journal is never written in WAL mode,
// but sqlite plays back a "hot" one it finds when it opens the database: an empty one of ours
// holds the name.
constexpr const char* kCompanionSuffixes[] = {"-wal", "-shm", "-journal"};

Status companion_failure(int error, const std::string& shown) {
  if (error == ELOOP) {
    return Status::failure(StatusCode::unsafe_file,
                           "not a regular file (symbolic link or other): " + shown + ": refused");
  }
  return Status::failure(code_for_errno(error), "cannot examine " + shown + ": " + errno_text(error));
}

// Held to the database's rules, on the open descriptor: a regular file with one name, owned by
// the log's owner, writable by nobody else.
Status check_companion(const struct stat& info, const std::string& shown,
                       const OpenOptions& options) {
  if (!S_ISREG(info.st_mode) || info.st_nlink != 1) {
    return Status::failure(StatusCode::unsafe_file,
                           "not a regular file with one name: " + shown + ": refused");
  }
  if (info.st_uid != options.owner_uid) {
    return Status::failure(StatusCode::unsafe_file,
                           shown + " is owned by uid " + std::to_string(info.st_uid) +
                               ", expected uid " + std::to_string(options.owner_uid) +
                               ": refused (someone else made it)");
  }
  if (info.st_mode & 022) {
    return Status::failure(StatusCode::unsafe_file, shown + " is writable by group or others (mode " +
                                                        octal_mode(info.st_mode) + "): refused");
  }
  return Status::success();
}

// Before sqlite opens the database: each companion file is made here (O_EXCL, in the checked
// folder, 0600, the database's owner) or, when it exists, checked by descriptor. Called once
// before a new database is published (`database_missing`): a stale -wal or -journal is emptied
// then (sqlite would delete the -wal, and play the journal back). Where this process cannot
// create files (a reader that is not the owner, a read-only file system), sqlite
// finds what is there, as before; what exists is checked all the same.
Status prepare_companions(const TrustedFile& folder, const std::string& name,
                          const std::string& path, const OpenOptions& options,
                          bool database_missing) {
  const int folder_fd = folder.fd();
  struct stat database {};
  const bool have_database = fstatat(folder_fd, name.c_str(), &database, AT_SYMLINK_NOFOLLOW) == 0;
  // Root gives a new companion the database's owner; anyone else can only make their own.
  const bool root = geteuid() == 0;
  const NewFile attributes{root && have_database ? database.st_uid : geteuid(),
                           root && have_database ? database.st_gid : getegid(), 0600};
  for (const char* suffix : kCompanionSuffixes) {
    const std::string companion = name + suffix;
    const std::string shown = path + suffix;
    UniqueFd fd;
    const WriteResult made = create_exclusive_at(folder, companion, attributes, fd);
    if (made.ok()) continue;
    if (made.status != WriteStatus::exists) {
      const int error = made.error_number;
      if (error == EACCES || error == EROFS || error == EPERM) continue;
      if (error != 0) return companion_failure(error, shown);
      return Status::failure(StatusCode::unsafe_file, made.reason);
    }
    // Left from a database removed since (the database is still missing: re-checked just
    // before, so a log another process has just published keeps its live -wal).
    const bool empty_it = database_missing && std::strcmp(suffix, "-shm") != 0 &&
                          fstatat(folder_fd, name.c_str(), &database, AT_SYMLINK_NOFOLLOW) != 0;
    fd.reset();
    *fd.out() = ::openat(folder_fd, companion.c_str(),
                         (empty_it ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                             O_CLOEXEC);
    struct stat info {};
    if (fd.get() < 0 && errno == EACCES) {
      // Not readable by this process: checked by name instead (it cannot be used by it either).
      if (fstatat(folder_fd, companion.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
        return companion_failure(errno, shown);
      }
    } else if (fd.get() < 0 || fstat(fd.get(), &info) != 0) {
      return companion_failure(errno, shown);
    }
    Status status = check_companion(info, shown, options);
    if (!status.ok()) return status;
    if (empty_it && fd.get() >= 0 && info.st_size > 0 && ftruncate(fd.get(), 0) != 0) {
      return companion_failure(errno, shown);
    }
  }
  return Status::success();
}

}  // namespace

namespace internal {

Status check_companions(int folder_fd, const std::string& name, const std::string& path,
                        const OpenOptions& options) {
  for (const char* suffix : kCompanionSuffixes) {
    struct stat info {};
    if (fstatat(folder_fd, (name + suffix).c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return companion_failure(errno, path + suffix);
    }
    Status status = check_companion(info, path + suffix, options);
    if (!status.ok()) return status;
  }
  return Status::success();
}

// The log is only as trustworthy as its file: its owner decides what failures() sees. Looked at
// in the checked folder, never by path.
Status check_owner_and_mode(int folder_fd, const std::string& name, const std::string& path,
                            const OpenOptions& options, struct stat* found) {
  struct stat local {};
  struct stat& info = found != nullptr ? *found : local;
  if (fstatat(folder_fd, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    int error = errno;
    if (error == ENOENT) {
      return Status::failure(StatusCode::cannot_open, "no audit database at " + path);
    }
    return Status::failure(error == EACCES ? StatusCode::read_only : StatusCode::cannot_open,
                           "cannot examine " + path + ": " + errno_text(error));
  }
  return check_owner_and_mode(info, path, options);
}

Status check_owner_and_mode(const struct stat& info, const std::string& path,
                            const OpenOptions& options) {
  if (!S_ISREG(info.st_mode)) {
    return Status::failure(StatusCode::unsafe_file,
                           "not a regular file (symbolic link or other): " + path);
  }
  if (!options.check_ownership) return Status::success();
  if (info.st_uid != options.owner_uid) {
    return Status::failure(StatusCode::unsafe_file,
                           path + " is owned by uid " + std::to_string(info.st_uid) +
                               ", expected uid " + std::to_string(options.owner_uid));
  }
  if (info.st_mode & 022) {
    return Status::failure(
        StatusCode::unsafe_file,
        path + " is writable by group or others (mode " + octal_mode(info.st_mode) + ")");
  }
  return Status::success();
}

}  // namespace internal

namespace {
using internal::check_owner_and_mode;
using internal::ensure_file;
using internal::open_folder;

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

namespace internal {

Status begin_immediate(AuditStore::Impl& impl, const char* what) {
  for (int attempt = 0;; ++attempt) {
    const int rc = detail::exec(impl.db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) return Status::success();
    if ((rc & 0xff) == SQLITE_BUSY && impl.time_left()) {
      impl.pause(attempt);
      continue;
    }
    return detail::sqlite_failure(impl.db, rc, what, impl.path);
  }
}

bool valid_decision(const std::string& decision) {
  return decision == "permit" || decision == "deny";
}

Status write_once(AuditStore::Impl& impl, const AuditRecord& record, std::int64_t time_us,
                  std::int64_t* id) {
  auto& insert = impl.insert_decision;
  insert.reset();
  insert.bind(1, time_us);
  insert.bind(2, record.service);
  insert.bind(3, record.user);
  insert.bind(4, record.ruser);
  insert.bind(5, record.rhost);
  insert.bind(6, record.tty);
  if (record.country) {
    insert.bind(7, *record.country);
  } else {
    insert.bind_null(7);
  }
  if (record.asn) {
    insert.bind(8, static_cast<std::int64_t>(*record.asn));
  } else {
    insert.bind_null(8);
  }
  insert.bind(9, record.policy_path);
  insert.bind(10, record.policy_sha256);
  insert.bind(11, record.decision);
  insert.bind(12, record.reason);
  insert.bind(13, record.duration_us);
  insert.bind(14, record.pid);
  insert.bind(15, static_cast<std::int64_t>(record.password_asked ? 1 : 0));
  if (auto key = address_key(record.rhost)) {
    insert.bind_blob(16, key->data(), static_cast<int>(key->size()));
  } else {
    insert.bind_null(16);
  }
  insert.bind(17, record.decision_id.empty() ? new_decision_id() : record.decision_id);
  if (record.situation.empty()) {
    insert.bind_null(18);
  } else {
    insert.bind(18, record.situation);
  }
  if (record.shadow.empty()) {
    insert.bind_null(19);
  } else {
    insert.bind(19, record.shadow);
  }
  int rc = insert.step();
  if (rc != SQLITE_DONE)
    return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
  *id = sqlite3_last_insert_rowid(impl.db);

  std::int64_t seq = 0;
  for (const auto& factor : record.factors) {
    auto& statement = impl.insert_factor;
    statement.reset();
    statement.bind(1, *id);
    statement.bind(2, seq++);
    statement.bind(3, factor.name);
    statement.bind(4, factor.outcome);
    statement.bind(5, factor.detail);
    statement.bind(6, factor.duration_us);
    rc = statement.step();
    if (rc != SQLITE_DONE)
      return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
  }
  // Most decisions have no unknown condition: this insert is prepared only for one that has.
  if (!record.unknowns.empty() && !impl.insert_unknown) {
    rc = impl.insert_unknown.prepare(
        impl.db,
        "INSERT INTO unknowns (decision_id, seq, condition, cause) VALUES (?1, ?2, ?3, ?4)", true);
    if (rc != SQLITE_OK)
      return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
  }
  seq = 0;
  for (const auto& unknown : record.unknowns) {
    auto& statement = impl.insert_unknown;
    statement.reset();
    statement.bind(1, *id);
    statement.bind(2, seq++);
    statement.bind(3, unknown.condition);
    statement.bind(4, unknown.cause);
    rc = statement.step();
    if (rc != SQLITE_DONE)
      return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
  }
  return Status::success();
}

Status prepare_inserts(AuditStore::Impl& impl) {
  if (impl.insert_decision) return Status::success();
  struct Pending {
    detail::Statement* statement;
    const char* sql;
  };
  const Pending pending[] = {
      {&impl.insert_decision,
       "INSERT INTO decisions (time_us, service, user, ruser, rhost, tty, country, asn, "
       "policy_path, policy_sha256, decision, reason, duration_us, pid, password_asked, rhost_ip, "
       "global_id, situation, shadow) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
       "?19)"},
      {&impl.insert_factor,
       "INSERT INTO factors (decision_id, seq, name, outcome, detail, duration_us) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
  };
  for (const auto& item : pending) {
    int rc = item.statement->prepare(impl.db, item.sql, true);
    if (rc != SQLITE_OK) {
      impl.insert_decision = detail::Statement();
      return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
    }
  }
  return Status::success();
}

// Deletes up to `batch` decisions older than `before_us` in one transaction.
Status prune_batch(AuditStore::Impl& impl, std::int64_t before_us, std::int64_t batch,
                   std::int64_t* removed) {
  *removed = 0;
  Status begun = begin_immediate(impl, "pruning the audit log");
  if (!begun.ok()) return begun;
  detail::Statement statement;
  int rc = statement.prepare(impl.db,
                             "DELETE FROM decisions WHERE id IN (SELECT id FROM decisions "
                             "WHERE time_us < ?1 ORDER BY time_us LIMIT ?2)");
  if (rc == SQLITE_OK) {
    statement.bind(1, before_us);
    statement.bind(2, batch);
    rc = statement.step();
  }
  if (rc != SQLITE_DONE) {
    Status status = detail::sqlite_failure(impl.db, rc, "pruning the audit log", impl.path);
    statement = detail::Statement();
    impl.rollback_if_open();
    return status;
  }
  std::int64_t changed = sqlite3_changes64(impl.db);
  statement = detail::Statement();
  rc = detail::exec(impl.db, "COMMIT");
  if (rc != SQLITE_OK) {
    Status status = detail::sqlite_failure(impl.db, rc, "pruning the audit log", impl.path);
    impl.rollback_if_open();
    return status;
  }
  *removed = changed;
  return Status::success();
}

Status out_of_memory(const std::string& path) {
  return Status::failure(StatusCode::io_error,
                         "out of memory while using the audit log (" + path + ")");
}

}  // namespace internal

using internal::kAutoPruneBatch;
using internal::kAutoPruneEvery;
using internal::out_of_memory;
using internal::prepare_inserts;
using internal::prune_batch;
using internal::valid_decision;
using internal::write_once;

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

void AuditStore::Impl::pause(int attempt) {
  internal::pause_before_retry(attempt, deadline, &jitter_state);
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

Status AuditStore::write(const AuditRecord& record) noexcept {
  auto& impl = *impl_;
  try {
    if (!valid_decision(record.decision)) {
      return Status::failure(
          StatusCode::invalid_argument,
          "audit record decision must be permit or deny, not \"" + record.decision + "\"");
    }
    if (impl.options.read_only) {
      return Status::failure(StatusCode::read_only, "audit log opened read-only: " + impl.path);
    }
    if (impl.version != schema::kCurrentVersion) {
      return Status::failure(StatusCode::schema_too_new,
                             "audit log schema version " + std::to_string(impl.version) +
                                 " cannot be written by this build: " + impl.path);
    }
    if (!impl.deadline_from_open) impl.start_deadline();
    impl.deadline_from_open = false;
    Status status = prepare_inserts(impl);
    if (!status.ok()) return status;
    std::int64_t time_us = record.time_us != 0 ? record.time_us : now_utc_us();
    std::int64_t id = 0;
    checkpoint_if_long(impl);
    for (int attempt = 0;; ++attempt) {
      status = internal::begin_immediate(impl, "audit write failed");
      if (!status.ok()) return status;
      status = write_once(impl, record, time_us, &id);
      if (status.ok()) {
        const int rc = detail::exec(impl.db, "COMMIT");
        if (rc != SQLITE_OK)
          status = detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
      }
      if (status.ok()) break;
      impl.rollback_if_open();
      // Only a lock conflict is worth another try; the whole transaction is redone, so nothing
      // is stored twice.
      if (status.code == StatusCode::busy && impl.time_left()) {
        impl.pause(attempt);
        continue;
      }
      return status;
    }
    if (impl.options.retention_seconds > 0 && id % kAutoPruneEvery == 0) {
      // Retention is housekeeping: its failure never fails the decision's write, and it waits
      // only within what is left of this write's deadline.
      std::int64_t removed = 0;
      prune_batch(impl, now_utc_us() - impl.options.retention_seconds * 1000000, kAutoPruneBatch,
                  &removed);
    }
    return Status::success();
  } catch (const std::bad_alloc&) {
    impl.rollback_if_open();
    return out_of_memory(impl.path);
  } catch (...) {
    impl.rollback_if_open();
    return Status::failure(StatusCode::io_error, "unexpected error writing " + impl.path);
  }
}

Status AuditStore::prune(std::int64_t before_us, std::int64_t* removed) noexcept {
  auto& impl = *impl_;
  *removed = 0;
  try {
    if (impl.options.read_only) {
      return Status::failure(StatusCode::read_only, "audit log opened read-only: " + impl.path);
    }
    if (impl.version == 0) return Status::success();
    for (;;) {
      impl.start_deadline();
      std::int64_t batch_removed = 0;
      Status status = prune_batch(impl, before_us, 5000, &batch_removed);
      *removed += batch_removed;
      if (!status.ok()) return status;
      if (batch_removed == 0) return Status::success();
    }
  } catch (const std::bad_alloc&) {
    impl.rollback_if_open();
    return out_of_memory(impl.path);
  } catch (...) {
    impl.rollback_if_open();
    return Status::failure(StatusCode::io_error, "unexpected error pruning " + impl.path);
  }
}

Status record_decision(const std::string& path, const OpenOptions& options,
                       const AuditRecord& record) noexcept {
  OpenOptions opening = options;
  opening.refresh_tally = false;  // the write below would make it stale again
  auto opened = AuditStore::open(path, opening);
  if (!opened.status.ok()) return opened.status;
  // Opening and writing share one deadline: the decision's whole wait stays bounded.
  opened.store->impl_->deadline_from_open = true;
  Status status = opened.store->write(record);
  // The tally no longer matches the tables: rebuilt now, within what is left of the deadline,
  // so that the next decision reads it instead of sqlite. Housekeeping: never the write's failure.
  if (status.ok() && options.refresh_tally && !options.read_only) {
    internal::rebuild_tally(*opened.store->impl_);
  }
  return status;
}

}  // namespace authpolicy::audit
