// The tally's files in the log's folder (tally.h): the tally folder and its files opened and
// checked, the log's fingerprints, this boot's id. Internal to the tally's files.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "audit/audit_store.h"
#include "audit/tally_format.h"
#include "base/fd_io.h"

namespace authpolicy::audit::tally {

inline constexpr const char* kStateName = "state";

// This boot's id ("" when unknown: the tally is then never used). A tally written before the
// last boot is never trusted (a power loss may have taken the log's last writes but not the
// tally's, or the other way round).
const std::string& boot_id();

Fingerprint fingerprint_of(const struct stat& info);

// The fingerprints of the database, its -wal and its spool (and -shm checked), or false when
// any of them is not acceptable: then the tally is not used, and the log says what is wrong.
bool log_prints(int folder_fd, const std::string& name, const OpenOptions& options,
                LogPrints* out);

// Whether another process holds the database in sqlite's EXCLUSIVE lock (a probe only).
bool held_exclusively(int folder_fd, const std::string& name);

// The tally folder, checked (a folder, the log's owner, 0700); -1 when absent (*absent) or refused.
int open_tally_folder(int folder_fd, const std::string& name, const OpenOptions& options,
                      bool* absent);
// A file of the tally, checked after opening; -1 with errno ENOENT when absent, EPERM when refused.
int open_tally_file(int dir_fd, const std::string& file, int flags, const OpenOptions& options,
                    struct stat* info);
// A new file of the tally (0600), or -1 when it exists or cannot be made.
int create_tally_file(int dir_fd, const std::string& file);

bool read_exactly(int fd, std::size_t size, off_t offset, std::string* out);
bool write_state(int fd, const State& state);

// The file of `user` in the tally folder: "u-" and the first 32 hex digits of the name's SHA-256.
std::string user_file_name(const std::string& user);

}  // namespace authpolicy::audit::tally
