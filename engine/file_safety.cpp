// Whether a policy file can be trusted: root-owned, not writable by others, in safe folders.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "engine/load.h"

namespace authpolicy {
namespace {

// Returns why one folder on the path is unsafe, or empty. Sticky world-writable folders (/tmp)
// are accepted: others cannot rename or replace a file they do not own there.
std::string unsafe_folder_reason(const std::string& folder) {
  struct stat st {};
  if (stat(folder.c_str(), &st) != 0) return "cannot inspect folder " + folder;
  if (!S_ISDIR(st.st_mode)) return folder + " is not a folder";
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return "folder " + folder + " is writable by others";
  }
  return {};
}

}  // namespace

std::string unsafe_file_reason(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) return "cannot resolve " + path;
  const std::string real(resolved);
  struct stat st {};
  if (stat(real.c_str(), &st) != 0) return "cannot inspect " + path;
  if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
  if (st.st_uid != 0) {
    return path + " is owned by uid " + std::to_string(st.st_uid) + ", not root";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return path + " is writable by " + ((st.st_mode & S_IWOTH) ? "others" : "its group") +
           " (mode " + [&] {
             char buf[8];
             std::snprintf(buf, sizeof buf, "%04o", st.st_mode & 07777);
             return std::string(buf);
           }() + ")";
  }
  for (auto slash = real.rfind('/'); slash != std::string::npos && slash > 0;
       slash = real.rfind('/', slash - 1)) {
    if (auto reason = unsafe_folder_reason(real.substr(0, slash)); !reason.empty()) return reason;
  }
  return unsafe_folder_reason("/");
}

}  // namespace authpolicy
