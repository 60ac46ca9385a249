// What `authpolicy status` checks for a used totp factor: its secrets folder and the files in it
// must be closed to group and others.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "base/file_trust.h"
#include "factors/totp/kit.h"

namespace authpolicy::totp {

void deployment_problems(const Settings& settings, std::vector<std::string>& problems) {
  const std::string pattern = settings.string_or("secrets", "/etc/authpolicy/totp/%u");
  const auto percent = pattern.find('%');
  const std::string head = pattern.substr(0, percent);
  const std::string folder = head.substr(0, head.rfind('/'));
  // The folder as the provider reaches it (the trust walk from "/"), then looked into through
  // that one descriptor.
  TrustRules rules;
  rules.folder = true;
  TrustedFile walked = open_trusted(folder, rules);
  if (walked.status == TrustStatus::missing) {
    problems.push_back("totp secrets folder " + folder + " is missing: nobody is enrolled");
    return;
  }
  if (!walked.ok()) {
    problems.push_back("totp secrets folder " + folder + " refused: " + walked.reason);
    return;
  }
  if ((walked.info.st_mode & 077) != 0) {
    problems.push_back("totp secrets folder " + folder +
                       " must be owned by root and closed to group and others (0700)");
  }
  DIR* dir = fdopendir(walked.release());
  if (!dir) return;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    struct stat st {};
    if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode) && (st.st_uid != 0 || (st.st_mode & 077) != 0)) {
      problems.push_back("totp secret " + folder + "/" + entry->d_name +
                         " must be owned by root, mode 0600");
    }
  }
  closedir(dir);
}

}  // namespace authpolicy::totp
