// Recognising pam_policy.so among pam() modules: by name, then by device and inode.
#include "engine/self_module.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <optional>
#include <utility>

#ifndef AUTHPOLICY_SYSTEM_PAM_DIR
#define AUTHPOLICY_SYSTEM_PAM_DIR "/usr/lib/x86_64-linux-gnu/security"
#endif

namespace authpolicy {
namespace {

constexpr const char* kModuleName = "pam_policy.so";

using FileId = std::pair<dev_t, ino_t>;

std::optional<FileId> file_id(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

// The file this code was loaded from: pam_policy.so inside a PAM host, the CLI binary otherwise
// (which no pam() names usefully, so comparing with it is harmless).
std::optional<FileId> running_object() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&names_this_module), &info) == 0 || !info.dli_fname) {
    return std::nullopt;
  }
  return file_id(info.dli_fname);
}

}  // namespace

std::optional<std::string> names_this_module(const std::string& module) {
  const auto slash = module.rfind('/');
  const std::string base = slash == std::string::npos ? module : module.substr(slash + 1);
  if (base == kModuleName) return "it is pam_policy.so itself";
  // A bare name is looked up in the system folder, as the delegation does.
  const std::string path =
      module.find('/') == std::string::npos ? std::string(AUTHPOLICY_SYSTEM_PAM_DIR) + "/" + module
                                            : module;
  const auto target = file_id(path);
  if (!target) return std::nullopt;  // a missing module is the delegation's error, at login
  if (target == file_id(std::string(AUTHPOLICY_SYSTEM_PAM_DIR) + "/" + kModuleName)) {
    return "it is the installed pam_policy.so under another name";
  }
  if (target == running_object()) return "it is the pam_policy.so running this check";
  return std::nullopt;
}

}  // namespace authpolicy
