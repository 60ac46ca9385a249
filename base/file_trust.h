// Opening a file the module trusts: walk from "/" by descriptor, check every folder and the file,
// and hand back the one descriptor that was checked, so nothing is ever re-opened by path.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace authpolicy {

// What a trusted file (and every folder above it) must be. Root is always an allowed owner.
struct TrustRules {
  // Owners besides root allowed for the file and for the folders above it: a user's own TOTP or
  // u2f file under their home. Empty for everything root alone controls.
  std::vector<uid_t> extra_owners;
  // Permission bits the file itself must not have: 022 (no group/other write) for policies,
  // modules and databases; 077 for secrets.
  mode_t forbidden_file_bits = 022;
  // A root-owned sticky folder writable by others (/tmp) passes: nobody else can rename or
  // replace what root owns there. Documented for policies and every other trusted file.
  bool sticky_folders = true;
  // Whether the last component may be a (trusted) symlink. Secret files that are replaced by
  // rename and re-checked by path after locking refuse it.
  bool final_symlink = true;
  // The path names a folder (the audit folder), not a regular file.
  bool folder = false;
  // Whether a symlink owned by an extra owner is followed (it must sit in a folder that passed).
  // Reading a user's own file may; a folder a root process writes into is reached through root's
  // symlinks only (open_folder_trusted), so the user cannot point a write anywhere else.
  bool user_symlinks = true;
  // Nobody's ownership or write bits are checked, only types and which symlinks are followed:
  // for a command that trusts nothing it reads and rewrites it where it found it (`fmt`).
  bool any_owner = false;
};

enum class TrustStatus {
  ok,
  missing,   // a component does not exist (errno ENOENT/ENOTDIR) below folders that passed
  unsafe,    // a folder or the file breaks the rules; `reason` says which and why
  io_error,  // cannot open or inspect a component
};

// An open, checked file. Owns `fd` (closed by the destructor).
class TrustedFile {
 public:
  TrustedFile() = default;
  TrustedFile(const TrustedFile&) = delete;
  TrustedFile& operator=(const TrustedFile&) = delete;
  TrustedFile(TrustedFile&& other) noexcept;
  TrustedFile& operator=(TrustedFile&& other) noexcept;
  ~TrustedFile();

  TrustStatus status = TrustStatus::io_error;
  std::string reason;     // why it is not ok: names the component, owner uid or mode
  int error_number = 0;   // errno behind missing/io_error
  std::string real_path;  // the path actually walked, symlinks resolved (for cycles, messages)
  struct stat info {};    // fstat of fd

  bool ok() const { return status == TrustStatus::ok; }
  int fd() const { return fd_; }
  int release();  // gives up ownership of the descriptor

 private:
  // Takes `fd`, checked: ok, with its fstat and the path walked to it.
  void hold(int fd, const struct stat& opened, std::string walked);
  friend TrustedFile open_trusted(const std::string& path, const TrustRules& rules);
  friend TrustedFile open_at_trusted(const TrustedFile& folder, const std::string& name,
                                     const TrustRules& rules);
  friend TrustedFile make_folder_at(const TrustedFile& parent, const std::string& name,
                                    mode_t mode, const TrustRules& rules);
  int fd_ = -1;
};

// Opens `path` (absolute) walking from "/" with openat(O_NOFOLLOW). Every folder must be owned by
// root or an extra owner and not writable by group or others (a root-owned sticky folder
// excepted when the rules allow it). A symlink is followed only when it is owned by root or an
// extra owner and sits in a folder that passed; its target is walked with the same rules (at most
// 40 links). The file must be a regular file (or folder), owned by root or an extra owner,
// without `forbidden_file_bits`. Never throws; fails closed.
TrustedFile open_trusted(const std::string& path, const TrustRules& rules);

// Opens the folder `path` that a process will write into (base/trusted_write.h): the walk of
// open_trusted with `rules.folder`, except that only symlinks owned by root or by the caller
// (the effective uid) are followed: for root, root's only. Every change
// is then made relative to the returned descriptor, never by path again.
TrustedFile open_folder_trusted(const std::string& path, TrustRules rules);

// Opens the entry `name` (one component: no "/", not "." or "..") of a folder opened by
// open_trusted or open_folder_trusted, without following a symlink, and checks it by `rules`
// (type, owner, mode; a regular file must have one link). `missing` when there is no such entry.
TrustedFile open_at_trusted(const TrustedFile& folder, const std::string& name,
                            const TrustRules& rules);

// Creates the folder `name` in `parent` with `mode` (owned by the caller) unless it exists, and
// opens it like open_at_trusted with `rules.folder`: an existing entry must pass the rules too.
TrustedFile make_folder_at(const TrustedFile& parent, const std::string& name, mode_t mode,
                           const TrustRules& rules);

// Why a folder (rules.folder) or a file described by `info` breaks `rules`; nullopt when it
// keeps them. `shown` names it in the reason. The check every walk above applies to the last
// component.
std::optional<std::string> trust_problem(const std::string& shown, const struct stat& info,
                                         const TrustRules& rules);

// Whether `name` is one path component a folder descriptor may be given: not empty, no "/",
// not "." or "..", no NUL.
bool is_single_name(const std::string& name);

// Reads the whole of a trusted file from its descriptor (at most `limit` bytes); nullopt with
// `*problem` set (when given) on error or when it is larger.
std::optional<std::string> read_trusted(const TrustedFile& file, std::size_t limit,
                                        std::string* problem);

// dlopen()s the module behind a trusted descriptor through /proc/self/fd, so the file loaded is
// the file checked. Picks a descriptor number no loaded object is named after (the loader matches
// names before inodes). nullptr with `error` when it cannot be loaded.
void* dlopen_trusted(const TrustedFile& file, int flags, std::string* error);

// The identity of a file as read: a cached result built from it is stale once any differs.
struct FileIdentity {
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  struct timespec modified {};
  struct timespec changed {};

  static FileIdentity of(const std::string& path, const struct stat& info);
  bool same_as(const struct stat& info) const;
};

}  // namespace authpolicy
