// The one file-trust walk: openat from "/" without following links blindly, checks on the open
// descriptors, and loading modules through the checked descriptor.
#include "base/file_trust.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>

#include "base/account_name.h"

namespace authpolicy {
namespace {

constexpr int kMaxSymlinks = 40;  // as the kernel's own limit

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

bool owner_allowed(uid_t owner, const TrustRules& rules) {
  if (owner == 0 || rules.any_owner) return true;
  return std::find(rules.extra_owners.begin(), rules.extra_owners.end(), owner) !=
         rules.extra_owners.end();
}

std::string owners_text(const TrustRules& rules) {
  return rules.extra_owners.empty() ? "not root" : "it must be owned by root or by the user";
}

// Why a folder on the way may not be trusted; nullopt when it may.
std::optional<std::string> folder_problem(const std::string& shown, const struct stat& st,
                                          const TrustRules& rules) {
  if (!S_ISDIR(st.st_mode)) return shown + " is not a folder";
  if (!owner_allowed(st.st_uid, rules)) {
    return "folder " + shown + " is owned by " + uid_text(st.st_uid) + ", " + owners_text(rules);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0 || rules.any_owner) return std::nullopt;
  if (rules.sticky_folders && st.st_uid == 0 && (st.st_mode & S_ISVTX) != 0) return std::nullopt;
  return "folder " + shown + " is writable by " +
         ((st.st_mode & S_IWOTH) ? "others" : "its group") + " (mode " + octal(st.st_mode) + ")";
}

// Why the final file may not be trusted; nullopt when it may.
std::optional<std::string> file_problem(const std::string& shown, const struct stat& st,
                                        const TrustRules& rules) {
  if (rules.folder) return folder_problem(shown, st, rules);
  if (!S_ISREG(st.st_mode)) return shown + " is not a regular file";
  if (!owner_allowed(st.st_uid, rules)) {
    return shown + " is owned by " + uid_text(st.st_uid) + ", " + owners_text(rules);
  }
  const mode_t bad = st.st_mode & rules.forbidden_file_bits & 0777;
  if (bad == 0 || rules.any_owner) return std::nullopt;
  if (rules.forbidden_file_bits & 044) {  // a secret: no access at all
    return shown + " must not be accessible by group or others (mode " + octal(st.st_mode) + ")";
  }
  if (bad & S_IWOTH) return shown + " is writable by others (mode " + octal(st.st_mode) + ")";
  if (bad & S_IWGRP) return shown + " is writable by its group (mode " + octal(st.st_mode) + ")";
  return shown + " is accessible by group or others (mode " + octal(st.st_mode) + ")";
}

std::deque<std::string> split(const std::string& path) {
  std::deque<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// The folders walked so far: descriptors and the path they stand for.
struct Folder {
  int fd;
  std::string path;  // "" for "/"
  struct stat info;
};

// fstat of a descriptor just opened into *info: 0, or the errno, with the descriptor closed.
int inspect_or_close(int fd, struct stat* info) {
  if (fstat(fd, info) == 0) return 0;
  const int error = errno;
  close(fd);
  return error;
}

void close_all(std::vector<Folder>& stack) {
  for (auto& folder : stack) close(folder.fd);
  stack.clear();
}

}  // namespace

TrustedFile::TrustedFile(TrustedFile&& other) noexcept
    : status(other.status),
      reason(std::move(other.reason)),
      error_number(other.error_number),
      real_path(std::move(other.real_path)),
      info(other.info),
      fd_(other.fd_) {
  other.fd_ = -1;
}

TrustedFile& TrustedFile::operator=(TrustedFile&& other) noexcept {
  if (this == &other) return *this;
  if (fd_ >= 0) close(fd_);
  status = other.status;
  reason = std::move(other.reason);
  error_number = other.error_number;
  real_path = std::move(other.real_path);
  info = other.info;
  fd_ = other.fd_;
  other.fd_ = -1;
  return *this;
}

TrustedFile::~TrustedFile() {
  if (fd_ >= 0) close(fd_);
}

int TrustedFile::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void TrustedFile::hold(int fd, const struct stat& opened, std::string walked) {
  fd_ = fd;
  info = opened;
  real_path = std::move(walked);
  status = TrustStatus::ok;
}

TrustedFile open_trusted(const std::string& path, const TrustRules& rules) {
  TrustedFile result;
  auto fail = [&](TrustStatus status, std::string reason, int error_number = 0) {
    result.status = status;
    result.reason = std::move(reason);
    result.error_number = error_number;
    return std::move(result);
  };
  if (path.empty() || path.front() != '/') {
    return fail(TrustStatus::unsafe, path + " is not an absolute path");
  }

  std::vector<Folder> stack;
  struct Cleanup {
    std::vector<Folder>& stack;
    ~Cleanup() { close_all(stack); }
  } cleanup{stack};

  auto push_root = [&]() -> std::optional<std::string> {
    close_all(stack);
    const int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return "cannot open /: " + std::string(std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      close(fd);
      return "cannot inspect /";
    }
    stack.push_back({fd, "", st});
    return folder_problem("/", st, rules);
  };
  if (auto problem = push_root()) return fail(TrustStatus::unsafe, *problem);

  std::deque<std::string> parts = split(path);
  if (parts.empty() && !rules.folder) return fail(TrustStatus::unsafe, "/ is not a regular file");
  int links = 0;
  while (!parts.empty()) {
    const std::string name = parts.front();
    parts.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      if (stack.size() > 1) {
        close(stack.back().fd);
        stack.pop_back();
      }
      continue;
    }
    const Folder& here = stack.back();
    const std::string shown = here.path + "/" + name;
    const bool last = parts.empty();
    const bool want_folder = !last || rules.folder;
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (want_folder) flags |= O_DIRECTORY;
    const int fd = openat(here.fd, name.c_str(), flags);
    if (fd < 0) {
      const int error = errno;
      if (error == ENOENT) return fail(TrustStatus::missing, shown + " does not exist", error);
      struct stat link {};
      if ((error == ELOOP || error == ENOTDIR) &&
          fstatat(here.fd, name.c_str(), &link, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(link.st_mode)) {
        if (last && !rules.final_symlink) {
          return fail(TrustStatus::unsafe, shown + " is a symbolic link", ELOOP);
        }
        // The folder holding the link passed, so only its writers (root, or the user for their
        // own files) could have made it; its owner must be one of them too.
        const bool link_allowed = rules.user_symlinks ? owner_allowed(link.st_uid, rules)
                                                      : link.st_uid == 0 || link.st_uid == geteuid();
        if (!link_allowed) {
          const std::string why = rules.user_symlinks
                                      ? owners_text(rules)
                                      : "a folder that is written into is reached through root's "
                                        "symbolic links only";
          return fail(TrustStatus::unsafe, "symbolic link " + shown + " is owned by " +
                                               uid_text(link.st_uid) + ", " + why);
        }
        if (++links > kMaxSymlinks) {
          return fail(TrustStatus::unsafe, "too many symbolic links in " + path, ELOOP);
        }
        std::string target(static_cast<std::size_t>(link.st_size) + 1, '\0');
        const ssize_t n = readlinkat(here.fd, name.c_str(), target.data(), target.size());
        if (n <= 0 || static_cast<std::size_t>(n) >= target.size()) {
          return fail(TrustStatus::io_error, "cannot read symbolic link " + shown, errno);
        }
        target.resize(static_cast<std::size_t>(n));
        std::deque<std::string> more = split(target);
        parts.insert(parts.begin(), more.begin(), more.end());
        if (target.front() == '/') {
          if (auto problem = push_root()) {
            return fail(TrustStatus::unsafe, *problem);
          }
        }
        if (parts.empty() && !rules.folder) {
          return fail(TrustStatus::unsafe, shown + " is not a regular file");
        }
        continue;
      }
      if (error == ENOTDIR) return fail(TrustStatus::missing, shown + " is not a folder", error);
      return fail(TrustStatus::io_error, "cannot open " + shown + ": " + std::strerror(error),
                  error);
    }
    struct stat st {};
    if (const int error = inspect_or_close(fd, &st); error != 0) {
      return fail(TrustStatus::io_error, "cannot inspect " + shown, error);
    }
    if (!last) {
      stack.push_back({fd, shown, st});
      if (auto problem = folder_problem(shown, st, rules)) {
        return fail(TrustStatus::unsafe, *problem);
      }
      continue;
    }
    if (auto problem = file_problem(shown, st, rules)) {
      close(fd);
      return fail(TrustStatus::unsafe, *problem);
    }
    result.hold(fd, st, shown);
    return result;
  }
  // The path ended in "/", "." or "..": it names the folder on top of the stack.
  if (!rules.folder) return fail(TrustStatus::unsafe, path + " is not a regular file");
  Folder& top = stack.back();
  result.hold(top.fd, top.info, top.path.empty() ? "/" : top.path);
  stack.pop_back();
  return result;
}

TrustedFile open_folder_trusted(const std::string& path, TrustRules rules) {
  rules.folder = true;
  rules.user_symlinks = false;
  rules.final_symlink = true;  // a file's rule; root's link to the folder is followed like any
  return open_trusted(path, rules);
}

bool is_single_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

std::optional<std::string> trust_problem(const std::string& shown, const struct stat& info,
                                         const TrustRules& rules) {
  return file_problem(shown, info, rules);
}

namespace {
constexpr int kReplacedRetries = 16;
}  // namespace

TrustedFile open_at_trusted(const TrustedFile& folder, const std::string& name,
                            const TrustRules& rules) {
  TrustedFile result;
  const std::string shown = folder.real_path + (folder.real_path == "/" ? "" : "/") + name;
  auto fail = [&](TrustStatus status, std::string reason, int error_number = 0) {
    result.status = status;
    result.reason = std::move(reason);
    result.error_number = error_number;
    return std::move(result);
  };
  if (!folder.ok()) return fail(folder.status, folder.reason, folder.error_number);
  if (!is_single_name(name)) return fail(TrustStatus::unsafe, shown + " is not a name in a folder");
  int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  if (rules.folder) flags |= O_DIRECTORY;
  int fd = -1;
  struct stat st {};
  // A file with no name left was replaced (or removed) between openat and fstat, as when another
  // login renames a new secret over it: open what the name holds now. Bounded: a name replaced
  // faster than it can be opened is refused below, with its 0 links.
  for (int attempt = 0; attempt < kReplacedRetries; ++attempt) {
    if (fd >= 0) close(fd);
    fd = openat(folder.fd(), name.c_str(), flags);
    if (fd < 0) {
      const int error = errno;
      if (error == ENOENT) return fail(TrustStatus::missing, shown + " does not exist", error);
      if (error == ELOOP) return fail(TrustStatus::unsafe, shown + " is a symbolic link", error);
      if (error == ENOTDIR) return fail(TrustStatus::unsafe, shown + " is not a folder", error);
      return fail(TrustStatus::io_error, "cannot open " + shown + ": " + std::strerror(error),
                  error);
    }
    if (const int error = inspect_or_close(fd, &st); error != 0) {
      return fail(TrustStatus::io_error, "cannot inspect " + shown, error);
    }
    if (rules.folder || st.st_nlink != 0) break;
  }
  std::optional<std::string> problem = file_problem(shown, st, rules);
  // A second name elsewhere would let whoever holds it change or keep what we write here.
  if (!problem && !rules.folder && st.st_nlink != 1) {
    problem = shown + " has " + std::to_string(st.st_nlink) + " hard links";
  }
  if (problem) {
    close(fd);
    return fail(TrustStatus::unsafe, *problem);
  }
  result.hold(fd, st, shown);
  return result;
}

TrustedFile make_folder_at(const TrustedFile& parent, const std::string& name, mode_t mode,
                           const TrustRules& rules) {
  if (parent.ok() && is_single_name(name) && mkdirat(parent.fd(), name.c_str(), mode) != 0 &&
      errno != EEXIST) {
    TrustedFile result;
    result.status = TrustStatus::io_error;
    result.error_number = errno;
    result.reason = "cannot create " + parent.real_path + "/" + name + ": " + std::strerror(errno);
    return result;
  }
  TrustRules folder_rules = rules;
  folder_rules.folder = true;
  return open_at_trusted(parent, name, folder_rules);
}

std::optional<std::string> read_trusted(const TrustedFile& file, std::size_t limit,
                                        std::string* problem) {
  auto fail = [&](std::string reason) -> std::optional<std::string> {
    if (problem) *problem = std::move(reason);
    return std::nullopt;
  };
  if (!file.ok()) return fail(file.reason);
  if (file.info.st_size < 0 || static_cast<std::size_t>(file.info.st_size) > limit) {
    return fail(file.real_path + " is " + std::to_string(file.info.st_size) +
                " bytes; the limit is " + std::to_string(limit));
  }
  std::string content(static_cast<std::size_t>(file.info.st_size), '\0');
  std::size_t done = 0;
  off_t offset = 0;
  while (done < content.size()) {
    // pread: the same descriptor may be read again (a cached identity check) without seeking.
    const ssize_t n = pread(file.fd(), content.data() + done, content.size() - done, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      explicit_bzero(content.data(), content.size());  // it may be the start of a secret file
      return fail("cannot read " + file.real_path + ": " + std::strerror(error));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
    offset += n;
  }
  content.resize(done);
  return content;
}

namespace {

struct MappedIdentity {
  dev_t device = 0;
  ino_t inode = 0;
};

// The device and inode /proc/self/maps names for the mapping that holds `address`, if any.
std::optional<MappedIdentity> mapping_at(std::uintptr_t address) {
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (!maps) return std::nullopt;
  std::optional<MappedIdentity> found;
  char line[4096];
  while (std::fgets(line, sizeof line, maps)) {
    // Only the line holding the address is parsed in full: sscanf on every line of a host's
    // maps cost ~80 us a login (docs/cost.md).
    char* rest = nullptr;
    const unsigned long start = std::strtoul(line, &rest, 16);
    if (rest == line || *rest != '-') continue;
    const unsigned long end = std::strtoul(rest + 1, nullptr, 16);
    if (address < start || address >= end) continue;
    unsigned long offset = 0, inode = 0;
    unsigned major = 0, minor = 0;
    char perms[8];
    if (std::sscanf(rest + 1, "%*x %7s %lx %x:%x %lu", perms, &offset, &major, &minor, &inode) ==
        5) {
      found = MappedIdentity{makedev(major, minor), static_cast<ino_t>(inode)};
    }
    break;
  }
  std::fclose(maps);
  return found;
}

// Whether the object behind `handle` is mapped from the checked file (descriptor `fd`, described
// by `info`): the mapping that holds its dynamic section, as /proc/self/maps names it. On most
// file systems that is fstat's device and inode; on overlayfs (a container's root, a test's clean
// view) maps names the file underneath, so the checked descriptor is mapped too and the two
// mappings compared, as the kernel names both.
bool handle_maps_file(void* handle, int fd, const struct stat& info) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr) return false;
  const auto loaded = mapping_at(reinterpret_cast<std::uintptr_t>(map->l_ld));
  if (!loaded) return false;
  if (loaded->device == info.st_dev && loaded->inode == info.st_ino) return true;
  void* page = mmap(nullptr, 1, PROT_READ, MAP_PRIVATE, fd, 0);
  if (page == MAP_FAILED) return false;
  const auto checked = mapping_at(reinterpret_cast<std::uintptr_t>(page));
  munmap(page, 1);
  return checked && checked->device == loaded->device && checked->inode == loaded->inode;
}

// Whether the loader knows the object behind `handle` by exactly `name`, the name it was opened by.
bool loaded_as(void* handle, const std::string& name) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr || map->l_name == nullptr) {
    return false;
  }
  return name == map->l_name;
}

}  // namespace

void* dlopen_trusted(const TrustedFile& file, int flags, std::string* error) {
  if (!file.ok()) {
    if (error) *error = file.reason;
    return nullptr;
  }
  // dlopen first matches the name against every loaded object, every name it was ever asked for
  // (a module loaded earlier through /proc/self/fd/N keeps that name as an alias) and every
  // object's DT_SONAME, so an object answering to the name may be another file. While our
  // descriptor N is open, an object the loader opens the name for is our file; so when a
  // RTLD_NOLOAD probe (under the loader's lock, after the dup) finds no object for the name and
  // the object returned is then known by exactly that name (not by a soname or an alias added on
  // the way), it was mapped from the checked file. Otherwise the object returned is verified
  // against the checked file in /proc/self/maps (~30 us of CPU, docs/cost.md); on a mismatch the
  // next descriptor number is tried. One loader call at a time.
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  constexpr int kAttempts = 32;
  std::vector<int> held;  // descriptor numbers whose name is taken, kept open to skip them
  struct Closer {
    std::vector<int>& fds;
    ~Closer() {
      for (int fd : fds) close(fd);
    }
  } closer{held};
  std::string why = "dlopen failed";
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const int fd = fcntl(file.fd(), F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
      why = "cannot duplicate the descriptor";
      break;
    }
    held.push_back(fd);
    const std::string name = "/proc/self/fd/" + std::to_string(fd);
    void* resident = dlopen(name.c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (resident) dlclose(resident);  // only asked: give back the reference the probe took
    dlerror();
    void* handle = dlopen(name.c_str(), flags);
    if (!handle) {
      const char* text = dlerror();
      why = text ? text : "dlopen failed";
      break;
    }
    if (!resident && loaded_as(handle, name)) return handle;
    if (handle_maps_file(handle, file.fd(), file.info)) return handle;
    dlclose(handle);  // another object answered to that name: drop our reference, try another
    why = "the loader returned another object for " + name;
  }
  if (error) *error = "cannot load " + file.real_path + ": " + why;
  return nullptr;
}

FileIdentity FileIdentity::of(const std::string& path, const struct stat& info) {
  FileIdentity id;
  id.path = path;
  id.device = info.st_dev;
  id.inode = info.st_ino;
  id.size = info.st_size;
  id.modified = info.st_mtim;
  id.changed = info.st_ctim;
  return id;
}

bool FileIdentity::same_as(const struct stat& info) const {
  return device == info.st_dev && inode == info.st_ino && size == info.st_size &&
         modified.tv_sec == info.st_mtim.tv_sec && modified.tv_nsec == info.st_mtim.tv_nsec &&
         changed.tv_sec == info.st_ctim.tv_sec && changed.tv_nsec == info.st_ctim.tv_nsec;
}

}  // namespace authpolicy
