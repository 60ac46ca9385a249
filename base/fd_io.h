// Whole writes to a descriptor: short writes continued, EINTR retried.
#pragma once

#include <sys/types.h>

#include <string_view>

namespace authpolicy {

// Writes all of `data` at the descriptor's position (its end, for O_APPEND); false when a write
// fails or writes nothing (errno says why).
bool write_all(int fd, std::string_view data);

// Writes all of `data` at `offset` (pwrite: the position is left as it was).
bool write_all_at(int fd, std::string_view data, off_t offset);

}  // namespace authpolicy
