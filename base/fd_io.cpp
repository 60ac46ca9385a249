// Whole writes to a descriptor.
#include "base/fd_io.h"

#include <unistd.h>

#include <cerrno>

namespace authpolicy {

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t wrote = ::write(fd, data.data(), data.size());
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(wrote));
  }
  return true;
}

bool write_all_at(int fd, std::string_view data, off_t offset) {
  while (!data.empty()) {
    const ssize_t wrote = ::pwrite(fd, data.data(), data.size(), offset);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(wrote));
    offset += static_cast<off_t>(wrote);
  }
  return true;
}

}  // namespace authpolicy
