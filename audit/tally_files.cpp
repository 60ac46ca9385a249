// The tally's files in the log's folder (tally_files.h).
#include "audit/tally_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "base/sha256.h"
#include "base/unique_fd.h"

namespace authpolicy::audit::tally {
namespace {

// The log's own files as a reader would accept them: regular, the log's owner, not writable by
// group or others; the companions (-wal, -shm, -spool) also with one name.
bool log_file_ok(const struct stat& info, const OpenOptions& options, bool companion) {
  return S_ISREG(info.st_mode) && info.st_uid == options.owner_uid && (info.st_mode & 022) == 0 &&
         (!companion || info.st_nlink == 1);
}

// The tally's files: regular, one name, the log's owner, private.
bool tally_file_ok(const struct stat& info, const OpenOptions& options) {
  return S_ISREG(info.st_mode) && info.st_nlink == 1 && info.st_uid == options.owner_uid &&
         (info.st_mode & 077) == 0;
}

}  // namespace

std::string folder_name(const std::string& name) {
  return name + "-tally";
}

Fingerprint fingerprint_of(const struct stat& info) {
  return Fingerprint{static_cast<std::uint64_t>(info.st_ino), static_cast<std::int64_t>(info.st_size),
                     static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 +
                         info.st_mtim.tv_nsec};
}

// This boot's id: a tally written before the last boot is never trusted (a power loss may have
// taken the log's last writes but not the tally's, or the other way round).
const std::string& boot_id() {
  static const std::string id = [] {
    std::string text;
    UniqueFd fd(::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC));
    char buffer[64];
    const ssize_t n = fd.get() >= 0 ? ::read(fd.get(), buffer, sizeof buffer) : -1;
    if (n >= 36) text.assign(buffer, 36);
    return text;
  }();
  return id;
}

// The fingerprints of the database, its -wal and its spool (and -shm checked), or false when
// any of them is not acceptable: then the tally is not used, and the log says what is wrong.
bool log_prints(int folder_fd, const std::string& name, const OpenOptions& options,
                LogPrints* out) {
  struct Part {
    const char* suffix;
    Fingerprint* print;
  };
  Fingerprint shm;
  const Part parts[] = {{"", &out->db}, {"-wal", &out->wal}, {"-shm", &shm}, {"-spool", &out->spool}};
  std::string file = name;
  for (const Part& part : parts) {
    file.resize(name.size());
    file += part.suffix;
    struct stat info {};
    if (fstatat(folder_fd, file.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT || *part.suffix == '\0') return false;
      *part.print = Fingerprint{};
      continue;
    }
    if (!log_file_ok(info, options, *part.suffix != '\0')) return false;
    *part.print = fingerprint_of(info);
  }
  return true;
}

// Whether another process holds the database in sqlite's EXCLUSIVE lock (a connection in
// exclusive locking mode, or one switching the journal): it may be about to change anything, and
// a read of the log waits for it within the decision's budget. The tally then leaves the answer
// to that read, as before it existed. A probe (F_GETLK) only: nothing is locked.
bool held_exclusively(int folder_fd, const std::string& name) {
  // sqlite's unix lock bytes: SHARED_FIRST (0x40000002) and the 510 after it, write-locked for
  // EXCLUSIVE, read-locked by every connection for SHARED.
  constexpr off_t kSharedFirst = 0x40000002;
  constexpr off_t kSharedSize = 510;
  UniqueFd db(openat(folder_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (db.get() < 0) return true;  // cannot look: not the tally's to answer
  struct flock probe {};
  probe.l_type = F_RDLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = kSharedFirst;
  probe.l_len = kSharedSize;
  if (fcntl(db.get(), F_GETLK, &probe) != 0) return true;
  return probe.l_type != F_UNLCK;
}

// The tally folder, checked (a folder, the log's owner, 0700); -1 when absent (*absent) or refused.
int open_tally_folder(int folder_fd, const std::string& name, const OpenOptions& options,
                      bool* absent) {
  *absent = false;
  const int fd = openat(folder_fd, tally::folder_name(name).c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    *absent = errno == ENOENT;
    return -1;
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != options.owner_uid ||
      (info.st_mode & 077) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A file of the tally, checked after opening; -1 with errno ENOENT when absent, EPERM when refused.
int open_tally_file(int dir_fd, const std::string& file, int flags, const OpenOptions& options,
                    struct stat* info) {
  const int fd = openat(dir_fd, file.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, info) != 0 || !tally_file_ok(*info, options)) {
    ::close(fd);
    errno = EPERM;
    return -1;
  }
  return fd;
}

int create_tally_file(int dir_fd, const std::string& file) {
  return openat(dir_fd, file.c_str(), O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
}

bool read_exactly(int fd, std::size_t size, off_t offset, std::string* out) {
  out->resize(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = pread(fd, out->data() + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string user_file_name(const std::string& user) {
  return "u-" + sha256_hex(user).substr(0, 32);
}

bool write_state(int fd, const State& state) {
  const std::string bytes = encode_state(state);
  return pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size());
}

}  // namespace authpolicy::audit::tally
