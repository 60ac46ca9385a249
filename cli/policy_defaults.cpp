// Shared defaults of the sub-commands.
#include "cli/policy_defaults.h"

#include <pwd.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

#include "audit/decision_log.h"
#include "base/user_lookup.h"

namespace authpolicy::cli {

std::string service_from_path(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  if (name.size() > 4 && name.substr(name.size() - 4) == ".pol") name.resize(name.size() - 4);
  return name;
}

std::string current_user_name() {
  const UserLookup found = find_user(getuid());
  if (found.found()) return found.account.name;
  return std::to_string(getuid());
}

SystemSubjects::FailureCounter failure_counter_for(const Policy& policy) {
  return audit::failure_counter(policy.audit);
}

SystemSubjects::RecentChecker recent_checker_for(const Policy& policy) {
  // The module records the policy under the absolute path it opened: look the passes up under
  // this file's absolute path, so `eval sudo.pol` in /etc/authpolicy finds sudo's and sudo-i's.
  std::string path = policy.files.empty() ? std::string() : policy.files.front().path;
  if (!path.empty()) {
    if (char* resolved = realpath(path.c_str(), nullptr)) {
      path = resolved;
      std::free(resolved);
    }
  }
  return audit::recent_checker(policy.audit, nullptr, path);
}

}  // namespace authpolicy::cli
