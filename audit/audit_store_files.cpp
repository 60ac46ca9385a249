// The audit log's files on disk: its folder reached through the trust walk, the database created
// whole, and the files sqlite keeps beside it (-wal, -shm, -journal) made or checked before sqlite
// opens any, each held to the log's owner and mode.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "audit/audit_store.h"
#include "audit/audit_store_impl.h"
#include "base/fd_io.h"
#include "base/file_trust.h"
#include "base/trusted_write.h"
#include "base/unique_fd.h"

namespace authpolicy::audit {
namespace {

using internal::code_for_errno;

std::string errno_text(int error) {
  return std::strerror(error);
}

std::string octal_mode(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
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

}  // namespace

namespace internal {

StatusCode code_for_errno(int error) {
  if (error == EACCES || error == EROFS || error == EPERM) return StatusCode::read_only;
  if (error == ENOSPC || error == EDQUOT || error == EFBIG) return StatusCode::full;
  return StatusCode::cannot_open;
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
    if (!write_all_at(fd.get(), image, 0) || fdatasync(fd.get()) != 0) {
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
  if (!write_all_at(fd.get(), image, 0)) {
    const int error = errno;
    return Status::failure(code_for_errno(error), "cannot create " + path + ": " + errno_text(error));
  }
  return Status::success();
}

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
  write_all_at(fd.get(), initial_database(), 0);
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
}  // namespace authpolicy::audit
