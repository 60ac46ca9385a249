// Creating, replacing and removing files relative to a folder descriptor the trust walk checked.
#include "base/trusted_write.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "base/fd_io.h"

namespace authpolicy {
namespace {

constexpr int kNameAttempts = 16;

WriteResult failure(WriteStatus status, std::string reason, int error_number = 0) {
  return {status, std::move(reason), error_number};
}

WriteResult system_failure(const std::string& what) {
  const int error = errno;
  return failure(WriteStatus::io_error, what + ": " + std::strerror(error), error);
}

std::string shown(const TrustedFile& folder, const std::string& name) {
  return folder.real_path + (folder.real_path == "/" ? "" : "/") + name;
}

// Why `folder` and `name` cannot be written, or nothing.
std::optional<WriteResult> unusable(const TrustedFile& folder, const std::string& name) {
  if (!folder.ok() || !S_ISDIR(folder.info.st_mode)) {
    return failure(WriteStatus::unsafe,
                   "not a checked folder: " + (folder.reason.empty() ? name : folder.reason));
  }
  if (!is_single_name(name)) {
    return failure(WriteStatus::unsafe, shown(folder, name) + " is not a name in a folder");
  }
  return std::nullopt;
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A fresh name for a temporary file beside `name`: a dot, the name, random hex.
std::string temporary_name(const std::string& name) {
  unsigned char random[8] = {};
  std::size_t got = 0;
  while (got < sizeof random) {
    const ssize_t n = getrandom(random + got, sizeof random - got, GRND_NONBLOCK);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // O_EXCL still refuses a taken name; the caller tries another
    got += static_cast<std::size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string text = "." + name.substr(0, 200) + ".ap-";
  for (unsigned char byte : random) {
    text.push_back(kHex[byte >> 4]);
    text.push_back(kHex[byte & 15]);
  }
  return text;
}

// Opens `name` exclusively into `opened` (empty) and gives it owner and mode (chown first: it
// clears set-id bits, and the mode given has none anyway).
WriteResult open_exclusive(const TrustedFile& folder, const std::string& name,
                           const NewFile& attributes, UniqueFd& opened) {
  UniqueFd fd(openat(folder.fd(), name.c_str(),
                     O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
  if (fd.get() < 0) {
    const int error = errno;
    return failure(error == EEXIST ? WriteStatus::exists : WriteStatus::io_error,
                   "cannot create " + shown(folder, name) + ": " + std::strerror(error), error);
  }
  struct stat created {};
  const char* failed = nullptr;
  if (fstat(fd.get(), &created) != 0) {
    failed = "inspect";
  } else if ((created.st_uid != attributes.owner || created.st_gid != attributes.group) &&
             fchown(fd.get(), attributes.owner, attributes.group) != 0) {
    failed = "set the owner of";
  } else if (fchmod(fd.get(), attributes.mode & 0777) != 0) {
    failed = "set the mode of";
  }
  if (failed != nullptr) {
    WriteResult result = system_failure(std::string("cannot ") + failed + " " + shown(folder, name));
    unlinkat(folder.fd(), name.c_str(), 0);
    return result;
  }
  *opened.out() = fd.release();
  return {WriteStatus::ok, {}, 0};
}

// A temporary file written beside the one it is to become: its name and what fstat said of it.
struct Temporary {
  std::string name;
  struct stat identity {};
};

// Checks `folder` and `name` (unusable()), then writes `content` to a new temporary file in
// `folder` (*out: its name and identity), or a failure.
WriteResult write_temporary(const TrustedFile& folder, const std::string& name,
                            std::string_view content, const NewFile& attributes,
                            Temporary* out) {
  if (auto problem = unusable(folder, name)) return *problem;
  std::string& temporary = out->name;
  struct stat& written = out->identity;
  WriteResult result;
  UniqueFd fd;
  for (int attempt = 0; attempt < kNameAttempts && fd.get() < 0; ++attempt) {
    temporary = temporary_name(name);
    result = open_exclusive(folder, temporary, attributes, fd);
    if (!result.ok() && result.status != WriteStatus::exists) return result;
  }
  if (fd.get() < 0) return result;
  const char* failed = nullptr;
  if (!write_all(fd.get(), content)) {
    failed = "write";
  } else if (fsync(fd.get()) != 0) {
    failed = "fsync";
  } else if (fstat(fd.get(), &written) != 0) {
    failed = "inspect";
  }
  if (failed == nullptr && close(fd.release()) != 0) failed = "close";
  if (failed != nullptr) {
    result = system_failure(std::string("cannot ") + failed + " " + shown(folder, temporary));
    unlinkat(folder.fd(), temporary.c_str(), 0);
    return result;
  }
  return {WriteStatus::ok, {}, 0};
}

// After a change: `name` must be the file written, and the folder must still be what was checked
// (owner and mode: a folder opened to others since could have had anything done in it).
WriteResult recheck(const TrustedFile& folder, const std::string& name, const struct stat& written) {
  struct stat now {};
  if (fstatat(folder.fd(), name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 ||
      !same_file(now, written)) {
    return failure(WriteStatus::changed, shown(folder, name) + " was replaced during the write");
  }
  struct stat folder_now {};
  if (fstat(folder.fd(), &folder_now) != 0 || folder_now.st_uid != folder.info.st_uid ||
      folder_now.st_mode != folder.info.st_mode) {
    return failure(WriteStatus::changed,
                   "folder " + folder.real_path + " changed owner or mode during the write");
  }
  return {WriteStatus::ok, {}, 0};
}

WriteResult sync_folder(const TrustedFile& folder) {
  // The rename itself must survive a crash too.
  if (fsync(folder.fd()) != 0) return system_failure("cannot fsync " + folder.real_path);
  return {WriteStatus::ok, {}, 0};
}

// After a rename into place: the folder synced, then the file and the folder rechecked.
WriteResult sync_and_recheck(const TrustedFile& folder, const std::string& name,
                             const struct stat& written) {
  if (WriteResult synced = sync_folder(folder); !synced.ok()) return synced;
  return recheck(folder, name, written);
}

}  // namespace

WriteResult create_exclusive_at(const TrustedFile& folder, const std::string& name,
                                const NewFile& attributes, UniqueFd& opened) {
  if (auto problem = unusable(folder, name)) return *problem;
  UniqueFd fd;
  if (WriteResult made = open_exclusive(folder, name, attributes, fd); !made.ok()) return made;
  if (WriteResult synced = sync_folder(folder); !synced.ok()) return synced;
  *opened.out() = fd.release();
  return {WriteStatus::ok, {}, 0};
}

WriteResult write_new_at(const TrustedFile& folder, const std::string& name,
                         std::string_view content, const NewFile& attributes) {
  Temporary temporary;
  if (WriteResult made = write_temporary(folder, name, content, attributes, &temporary);
      !made.ok()) {
    return made;
  }
  int moved = renameat2(folder.fd(), temporary.name.c_str(), folder.fd(), name.c_str(),
                        RENAME_NOREPLACE);
  if (moved != 0 && (errno == EINVAL || errno == ENOSYS)) {
    // A filesystem (or kernel) without RENAME_NOREPLACE: link() refuses to replace anything too.
    moved = linkat(folder.fd(), temporary.name.c_str(), folder.fd(), name.c_str(), 0);
    const int error = errno;
    unlinkat(folder.fd(), temporary.name.c_str(), 0);
    errno = error;
  }
  if (moved != 0) {
    const int error = errno;
    unlinkat(folder.fd(), temporary.name.c_str(), 0);
    return failure(error == EEXIST ? WriteStatus::exists : WriteStatus::io_error,
                   "cannot create " + shown(folder, name) + ": " + std::strerror(error), error);
  }
  return sync_and_recheck(folder, name, temporary.identity);
}

WriteResult replace_at(const TrustedFile& folder, const std::string& name,
                       std::string_view content, const NewFile& attributes,
                       const struct stat* expected) {
  Temporary temporary;
  if (WriteResult made = write_temporary(folder, name, content, attributes, &temporary);
      !made.ok()) {
    return made;
  }
  if (expected != nullptr) {
    struct stat now {};
    if (fstatat(folder.fd(), name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 ||
        !same_file(now, *expected)) {
      unlinkat(folder.fd(), temporary.name.c_str(), 0);
      return failure(WriteStatus::changed,
                     shown(folder, name) + " changed since it was read; left as it is");
    }
  }
  if (renameat(folder.fd(), temporary.name.c_str(), folder.fd(), name.c_str()) != 0) {
    WriteResult result = system_failure("cannot replace " + shown(folder, name));
    unlinkat(folder.fd(), temporary.name.c_str(), 0);
    return result;
  }
  return sync_and_recheck(folder, name, temporary.identity);
}

WriteResult remove_at(const TrustedFile& folder, const std::string& name,
                      const struct stat* expected) {
  if (auto problem = unusable(folder, name)) return *problem;
  if (expected != nullptr) {
    struct stat now {};
    if (fstatat(folder.fd(), name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return {WriteStatus::ok, {}, 0};
      return system_failure("cannot inspect " + shown(folder, name));
    }
    if (!same_file(now, *expected)) {
      return failure(WriteStatus::changed,
                     shown(folder, name) + " changed since it was read; left as it is");
    }
  }
  if (unlinkat(folder.fd(), name.c_str(), 0) != 0) {
    if (errno == ENOENT) return {WriteStatus::ok, {}, 0};
    return system_failure("cannot remove " + shown(folder, name));
  }
  return sync_folder(folder);
}

FolderEntry open_folder_of(const std::string& path, const TrustRules& rules) {
  FolderEntry entry;
  std::error_code failed;
  const std::filesystem::path absolute = std::filesystem::absolute(path, failed);
  if (failed || absolute.filename().empty()) {
    entry.folder.status = TrustStatus::unsafe;
    entry.folder.reason = path + ": not a file name";
    return entry;
  }
  entry.name = absolute.filename().string();
  entry.folder = open_folder_trusted(absolute.parent_path().string(), rules);
  return entry;
}

}  // namespace authpolicy
