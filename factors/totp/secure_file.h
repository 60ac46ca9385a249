// Opening secret files safely (owner, mode, no symlinks), locking them, and replacing them
// atomically.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/file_trust.h"
#include "base/trusted_write.h"
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

  // Replaces the file's contents atomically through the folder descriptor it was opened by
  // (base/trusted_write.h): same owner, mode without set-id bits, only while the name is still the
  // file read. False with detail on failure (the old file is then left as it was, unless the
  // folder changed under the write, which is reported too).
  bool replace(std::string_view new_contents);

 private:
  friend SecretFile open_secret_file(const std::string& path, const std::vector<uid_t>& owners,
                                     bool lock, std::chrono::milliseconds lock_timeout);
  TrustedFile folder_;   // the folder the trust walk checked; every change is made relative to it
  TrustedFile checked_;  // the file opened in it; closing it releases the flock
};

// Opens `path` (no symlink in its last component; above it only root's symlinks are followed),
// requires a regular file with one link owned by one of `owners`, with no group/other permission
// bits, in a folder owned by root or one of `owners` and not writable by group/other; reads it
// whole (at most 1 MiB). With `lock`, takes an
// exclusive flock, waiting at most `lock_timeout` (busy after that).
SecretFile open_secret_file(const std::string& path, const std::vector<uid_t>& owners, bool lock,
                            std::chrono::milliseconds lock_timeout);

// Creates `path` with `contents`, mode 0600, owned by uid/gid, atomically, in its folder as
// open_secret_file walks it (its last component created 0700 when missing): the file appears
// complete or not at all. Without `overwrite`, an existing file is left alone (`exists`). A
// folder the walk refuses is `unsafe` (`io_error` when it could not be read).
WriteResult create_secret_file(const std::string& path, std::string_view contents, uid_t uid,
                               gid_t gid, bool overwrite);

}  // namespace authpolicy::totp
