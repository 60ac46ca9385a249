// Safe open/lock/replace of secret files: O_NOFOLLOW, owner and mode checks, flock with an inode
// re-check, and write-temp-fsync-rename-fsync for every change.
#include "factors/totp/secure_file.h"

#include "base/file_trust.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace authpolicy::totp {

namespace {

constexpr off_t kMaxFileSize = 1 << 20;

std::string folder_of(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string errno_text(int error) {
  return std::strerror(error);
}


// Reads the whole file at fd into out (bounded), so partially read secrets are never left around.
bool read_whole(int fd, off_t size, SecretString& out, std::string& detail) {
  if (size > kMaxFileSize) {
    detail = "file is larger than 1 MiB";
    return false;
  }
  std::string buffer;
  buffer.resize(static_cast<std::size_t>(size) + 1);
  std::size_t used = 0;
  bool ok = true;
  for (;;) {
    if (used == buffer.size()) {
      ok = false;  // grew while we read it: writers replace files, never edit them in place
      detail = "file changed while being read";
      break;
    }
    ssize_t got = read(fd, buffer.data() + used, buffer.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      ok = false;
      detail = "cannot read: " + errno_text(errno);
      break;
    }
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  if (ok) out.assign(std::string_view(buffer.data(), used));
  secure_wipe(buffer.data(), buffer.capacity());
  return ok;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t wrote = write(fd, data.data(), data.size());
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return true;
}

bool fsync_folder(const std::string& folder) {
  int fd = open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

// Writes contents to a new temporary file next to path, owned by uid/gid with mode; returns its
// name, or empty with error.
std::string write_temporary(const std::string& path, std::string_view contents, uid_t uid,
                            gid_t gid, mode_t mode, std::string& error) {
  std::string name = folder_of(path) + "/." + name_of(path) + ".XXXXXX";
  int fd = mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) {
    error = "cannot create a temporary file in " + folder_of(path) + ": " + errno_text(errno);
    return {};
  }
  const char* failed = nullptr;
  struct stat created {};
  if (fstat(fd, &created) != 0) {
    failed = "stat";
  } else if ((created.st_uid != uid || created.st_gid != gid) && fchown(fd, uid, gid) != 0) {
    failed = "chown";
  } else if (fchmod(fd, mode) != 0) {
    failed = "chmod";
  } else if (!write_all(fd, contents)) {
    failed = "write";
  } else if (fsync(fd) != 0) {
    failed = "fsync";
  }
  int saved = errno;
  if (close(fd) != 0 && failed == nullptr) {
    failed = "close";
    saved = errno;
  }
  if (failed != nullptr) {
    unlink(name.c_str());
    error = std::string("cannot ") + failed + " the temporary file: " + errno_text(saved);
    return {};
  }
  return name;
}

}  // namespace

bool SecretFile::replace(std::string_view new_contents) {
  std::string error;
  std::string temporary =
      write_temporary(path, new_contents, info.st_uid, info.st_gid, info.st_mode & 0700, error);
  if (temporary.empty()) {
    detail = error;
    return false;
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    detail = "cannot rename the temporary file over " + path + ": " + errno_text(errno);
    unlink(temporary.c_str());
    return false;
  }
  if (!fsync_folder(folder_of(path))) {
    detail = "cannot fsync the folder of " + path + ": " + errno_text(errno);
    return false;
  }
  return true;
}

SecretFile open_secret_file(const std::string& path, const std::vector<uid_t>& owners, bool lock,
                            std::chrono::milliseconds lock_timeout) {
  SecretFile file;
  file.path = path;
  // Every folder above and the file itself: base/file_trust.h, with the user as an extra owner
  // for per-user files and no group/other permission bits at all on a secret.
  TrustRules rules;
  for (uid_t owner : owners) {
    if (owner != 0) rules.extra_owners.push_back(owner);
  }
  rules.forbidden_file_bits = 077;
  rules.final_symlink = false;  // the lock re-check below compares the inode at the path

  const auto deadline = std::chrono::steady_clock::now() + lock_timeout;
  for (;;) {
    TrustedFile trusted = open_trusted(path, rules);
    if (!trusted.ok()) {
      switch (trusted.status) {
        case TrustStatus::missing:
          file.status = OpenStatus::missing;
          break;
        case TrustStatus::unsafe:
          file.status = OpenStatus::unsafe;
          break;
        default:
          file.status = OpenStatus::io_error;
          break;
      }
      file.detail = trusted.reason;
      return file;
    }
    file = SecretFile();  // drops (closes) the previous attempt's descriptor, if any
    file.path = path;
    file.info = trusted.info;
    file.checked_ = std::move(trusted);
    const int fd = file.checked_.fd();
    if (lock) {
      bool locked = false;
      while (!locked) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
          locked = true;
          break;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
          file.status = OpenStatus::io_error;
          file.detail = "cannot lock " + path + ": " + errno_text(errno);
          return file;
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (!locked) {
        file.status = OpenStatus::busy;
        file.detail = path + " is locked by another login";
        return file;
      }
      // Another login may have renamed a new file over the path while we waited: our lock is
      // then on a file nobody will read again, so start over with the current one.
      struct stat now {};
      if (lstat(path.c_str(), &now) != 0 || now.st_dev != file.info.st_dev ||
          now.st_ino != file.info.st_ino) {
        if (std::chrono::steady_clock::now() >= deadline) {
          file.status = OpenStatus::busy;
          file.detail = path + " keeps changing";
          return file;
        }
        continue;
      }
    }
    if (!read_whole(fd, file.info.st_size, file.contents, file.detail)) {
      file.status = OpenStatus::io_error;
      return file;
    }
    file.status = OpenStatus::ok;
    return file;
  }
}

bool create_secret_file(const std::string& path, std::string_view contents, uid_t uid, gid_t gid,
                        bool overwrite, bool& exists, std::string& error) {
  exists = false;
  std::string temporary = write_temporary(path, contents, uid, gid, 0600, error);
  if (temporary.empty()) return false;
  if (overwrite) {
    if (rename(temporary.c_str(), path.c_str()) != 0) {
      error = "cannot rename the temporary file over " + path + ": " + errno_text(errno);
      unlink(temporary.c_str());
      return false;
    }
  } else {
    // link() refuses to replace anything, so two enrolments racing cannot both win.
    int linked = link(temporary.c_str(), path.c_str());
    int saved = errno;
    unlink(temporary.c_str());
    if (linked != 0) {
      if (saved == EEXIST) {
        exists = true;
        error = path + " already exists";
      } else {
        error = "cannot create " + path + ": " + errno_text(saved);
      }
      return false;
    }
  }
  if (!fsync_folder(folder_of(path))) {
    error = "cannot fsync the folder of " + path + ": " + errno_text(errno);
    return false;
  }
  return true;
}

}  // namespace authpolicy::totp
