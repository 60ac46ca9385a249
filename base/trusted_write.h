// Writing files the way base/file_trust.h reads them: every file a root process creates, replaces
// or removes is named relative to one folder descriptor the trust walk checked, so no path is
// resolved twice and nobody can point a write somewhere else between the check and the change.
//
// The one atomic file write of the tree (TOTP secrets, `fmt`, `enable`/`disable` and their
// backups, u2f authfiles, `audit export`'s cursor, the audit log's database, -wal/-shm/-journal
// and spool; only the audit tally, an index rebuilt from the log, renames without syncing:
// audit/tally_append.cpp). Use:
//   TrustedFile folder = open_folder_trusted("/var/lib/x", rules);   // base/file_trust.h
//   WriteResult done = replace_at(folder, "name", text, {owner, group, 0600});
//   if (!done.ok()) ... done.reason ...
// A write in a folder the user owns (her TOTP file under ~) lands in that folder whatever she
// renames meanwhile: the descriptor names the folder that was checked, and the walk that opened
// it followed root's symlinks only.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/file_trust.h"
#include "base/unique_fd.h"

namespace authpolicy {

// Owner, group and permission bits of a file we create. Only the 0777 bits are ever given: a new
// file never takes setuid, setgid or sticky bits from anyone (not from the file it replaces).
struct NewFile {
  uid_t owner = 0;
  gid_t group = 0;
  mode_t mode = 0600;
};

enum class WriteStatus {
  ok,
  exists,    // create-exclusive: the name is taken (nothing written)
  changed,   // the entry or the folder is not what the caller checked (before or after the change)
  unsafe,    // the folder was not opened by the trust walk, or a name is not one component
  io_error,  // a system call failed; `error_number` says why
};

struct WriteResult {
  WriteStatus status = WriteStatus::io_error;
  std::string reason;  // names the file; never contains what was written
  int error_number = 0;
  bool ok() const { return status == WriteStatus::ok; }
};

// Creates `name` in `folder` with O_CREAT|O_EXCL (never through a symlink, never an existing
// file), sets owner and mode on the descriptor and hands it to `opened` (which must be empty),
// open for reading and writing; `exists` when the name is taken. For files that are filled in
// place after creation (the audit log's companions); whole contents go through write_new_at or
// replace_at.
WriteResult create_exclusive_at(const TrustedFile& folder, const std::string& name,
                                const NewFile& attributes, UniqueFd& opened);

// Writes `content` as the new file `name`: a temporary file in the same folder (O_EXCL), owner and
// mode set, written, fsync'ed, then renamed into place only if nothing has that name
// (`exists` otherwise), and the folder fsync'ed. The file appears complete or not at all.
WriteResult write_new_at(const TrustedFile& folder, const std::string& name,
                         std::string_view content, const NewFile& attributes);

// Replaces (or creates) `name` with `content` the same way, renaming over the old entry. With
// `expected`, the entry must still be that file (device and inode) just before the rename, or
// nothing is replaced (`changed`). After the rename the entry is re-checked: it must be the file
// written, and the folder must have kept its owner and mode (`changed` otherwise: the caller
// fails closed although the new contents may be in place).
WriteResult replace_at(const TrustedFile& folder, const std::string& name,
                       std::string_view content, const NewFile& attributes,
                       const struct stat* expected = nullptr);

// Removes `name` from `folder` (not a folder itself). With `expected`, only when the entry is
// still that file. A missing entry is `ok`: the result the caller wanted.
WriteResult remove_at(const TrustedFile& folder, const std::string& name,
                      const struct stat* expected = nullptr);

// A file a command was given by name (absolute, or relative to the working folder) that it
// creates or replaces: the folder it names, opened by open_folder_trusted with `rules`, and the
// file's name in that folder. Every later change goes through `folder`.
struct FolderEntry {
  TrustedFile folder;
  std::string name;
};
FolderEntry open_folder_of(const std::string& path, const TrustRules& rules);

}  // namespace authpolicy
