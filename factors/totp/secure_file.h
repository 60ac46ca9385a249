// Opening secret files safely (owner, mode, no symlinks), locking them, and replacing them
// atomically.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/file_trust.h"
#include "engine/secret.h"

namespace authpolicy::totp {

enum class OpenStatus { ok, missing, unsafe, busy, io_error };

// An open secret file. While `locked`, it holds an exclusive flock on the file that is
// currently at `path` (re-checked after locking, since a rename may have replaced it).
class SecretFile {
 public:
  OpenStatus status = OpenStatus::io_error;
  std::string detail;  // why it is not ok; never contains file content
  std::string path;
  struct stat info {};
  SecretString contents;

  // Replaces the file's contents atomically: a temporary file in the same folder with the same
  // owner and mode, fsync, rename over the path, fsync the folder. False with detail on failure
  // (the old file is then left as it was).
  bool replace(std::string_view new_contents);

 private:
  friend SecretFile open_secret_file(const std::string& path, const std::vector<uid_t>& owners,
                                     bool lock, std::chrono::milliseconds lock_timeout);
  TrustedFile checked_;  // the descriptor the trust walk checked; closing it releases the flock
};

// Opens `path` (no symlink in its last component), requires a regular file owned by one of
// `owners`, with no group/other permission bits, in a folder owned by root or one of `owners`
// and not writable by group/other; reads it whole (at most 1 MiB). With `lock`, takes an
// exclusive flock, waiting at most `lock_timeout` (busy after that).
SecretFile open_secret_file(const std::string& path, const std::vector<uid_t>& owners, bool lock,
                            std::chrono::milliseconds lock_timeout);

// Creates `path` with `contents`, mode 0600, owned by uid/gid, atomically: the file appears
// complete or not at all. Without `overwrite`, an existing file is left alone and `exists` set.
bool create_secret_file(const std::string& path, std::string_view contents, uid_t uid, gid_t gid,
                        bool overwrite, bool& exists, std::string& error);

}  // namespace authpolicy::totp
