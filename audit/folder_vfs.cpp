// sqlite's VFS for the audit log: names taken as given, so the log and its companions are reached
// through the checked folder's descriptor, and sleeps that never outlast the current operation's
// deadline.
#include <sqlite3.h>

#include <chrono>
#include <cstring>

#include "audit/audit_store_impl.h"

namespace authpolicy::audit {
namespace {

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

}  // namespace

namespace internal {

void limit_sleeps(std::chrono::steady_clock::time_point deadline) noexcept {
  sleep_deadline = deadline;
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

}  // namespace internal
}  // namespace authpolicy::audit
