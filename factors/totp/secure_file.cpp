// Safe open/lock/replace of secret files: the trust walk to the folder, the file opened and
// re-checked through that folder's descriptor, flock, and every change by base/trusted_write.h.
#include "factors/totp/secure_file.h"

#include "base/file_trust.h"
#include "base/trusted_write.h"

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

// Reads the whole file at fd (bounded), so partially read secrets are never left around; nullopt
// with `*detail` when it cannot.
std::optional<SecretString> read_whole(int fd, off_t size, std::string* detail) {
  if (size > kMaxFileSize) {
    *detail = "file is larger than 1 MiB";
    return std::nullopt;
  }
  std::string buffer;
  buffer.resize(static_cast<std::size_t>(size) + 1);
  std::size_t used = 0;
  bool ok = true;
  for (;;) {
    if (used == buffer.size()) {
      ok = false;  // grew while we read it: writers replace files, never edit them in place
      *detail = "file changed while being read";
      break;
    }
    ssize_t got = read(fd, buffer.data() + used, buffer.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      ok = false;
      *detail = "cannot read: " + errno_text(errno);
      break;
    }
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  if (!ok) {
    secure_wipe(buffer.data(), buffer.capacity());
    return std::nullopt;
  }
  std::optional<SecretString> contents(std::in_place, std::string_view(buffer.data(), used));
  secure_wipe(buffer.data(), buffer.capacity());
  return contents;
}

OpenStatus open_status(TrustStatus status) {
  switch (status) {
    case TrustStatus::ok:
      return OpenStatus::ok;
    case TrustStatus::missing:
      return OpenStatus::missing;
    case TrustStatus::unsafe:
      return OpenStatus::unsafe;
    case TrustStatus::io_error:
      break;
  }
  return OpenStatus::io_error;
}

// The trust rules of a secret and its folder: root or one of `owners`, nothing for group/other.
TrustRules secret_rules(const std::vector<uid_t>& owners) {
  TrustRules rules;
  for (uid_t owner : owners) {
    if (owner != 0) rules.extra_owners.push_back(owner);
  }
  rules.forbidden_file_bits = 077;
  rules.final_symlink = false;
  return rules;
}

}  // namespace

bool SecretFile::replace(std::string_view new_contents) {
  // Into the folder that was checked, over the file that is locked: base/trusted_write.h.
  const NewFile attributes{info.st_uid, info.st_gid, static_cast<mode_t>(info.st_mode & 0700)};
  const WriteResult written = replace_at(folder_, name_of(path), new_contents, attributes, &info);
  if (!written.ok()) {
    detail = written.reason;
    return false;
  }
  return true;
}

SecretFile open_secret_file(const std::string& path, const std::vector<uid_t>& owners, bool lock,
                            std::chrono::milliseconds lock_timeout) {
  SecretFile file;
  file.path = path;
  // The folder through the trust walk (base/file_trust.h), following root's symlinks only, with
  // the user as an extra owner for per-user files; the file inside it by that one descriptor, so
  // that replace() writes exactly where the file was read. No group/other bits on a secret.
  const TrustRules rules = secret_rules(owners);
  const std::string name = name_of(path);
  TrustedFile folder = open_folder_trusted(folder_of(path), rules);
  if (!folder.ok()) {
    file.status = open_status(folder.status);
    file.detail = folder.reason;
    return file;
  }

  const auto deadline = std::chrono::steady_clock::now() + lock_timeout;
  for (;;) {
    TrustedFile trusted = open_at_trusted(folder, name, rules);
    if (!trusted.ok()) {
      file.status = open_status(trusted.status);
      file.detail = trusted.reason;
      return file;
    }
    file.checked_ = std::move(trusted);  // drops the previous attempt's descriptor, if any
    file.info = file.checked_.info;
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
      // Another login may have renamed a new file over the name while we waited: our lock is
      // then on a file nobody will read again, so start over with the current one.
      struct stat now {};
      if (fstatat(folder.fd(), name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 ||
          now.st_dev != file.info.st_dev || now.st_ino != file.info.st_ino) {
        if (std::chrono::steady_clock::now() >= deadline) {
          file.status = OpenStatus::busy;
          file.detail = path + " keeps changing";
          return file;
        }
        continue;
      }
    }
    std::optional<SecretString> contents = read_whole(fd, file.info.st_size, &file.detail);
    if (!contents) {
      file.status = OpenStatus::io_error;
      return file;
    }
    file.contents = std::move(*contents);
    file.folder_ = std::move(folder);
    file.status = OpenStatus::ok;
    return file;
  }
}

WriteResult create_secret_file(const std::string& path, std::string_view contents, uid_t uid,
                               gid_t gid, bool overwrite) {
  auto refused = [](const TrustedFile& walked) {
    WriteResult result;
    result.status =
        walked.status == TrustStatus::io_error ? WriteStatus::io_error : WriteStatus::unsafe;
    result.reason = walked.reason;
    result.error_number = walked.error_number;
    return result;
  };
  // The folder is walked like open_secret_file walks it; only its last component is created
  // (0700) when it is missing, relative to its checked parent.
  const TrustRules rules = secret_rules({uid});
  const std::string folder_path = folder_of(path);
  TrustedFile folder = open_folder_trusted(folder_path, rules);
  if (folder.status == TrustStatus::missing) {
    const TrustedFile parent = open_folder_trusted(folder_of(folder_path), rules);
    if (!parent.ok()) return refused(parent);
    folder = make_folder_at(parent, name_of(folder_path), 0700, rules);
  }
  if (!folder.ok()) return refused(folder);
  const NewFile attributes{uid, gid, 0600};
  WriteResult written = overwrite ? replace_at(folder, name_of(path), contents, attributes)
                                  : write_new_at(folder, name_of(path), contents, attributes);
  if (written.status == WriteStatus::exists) written.reason = path + " already exists";
  return written;
}

}  // namespace authpolicy::totp
