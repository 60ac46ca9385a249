// The password database, asked reentrantly (base/user_lookup.h).
#include "base/user_lookup.h"

#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace authpolicy {

namespace {

// Calls `ask(entry, buffer, size, &found)` with a buffer that grows on ERANGE up to 1 MiB.
template <typename Ask>
UserLookup ask_database(Ask ask) {
  std::vector<char> buffer(16384);
  for (;;) {
    passwd entry{};
    passwd* found = nullptr;
    const int rc = ask(&entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 4);
      continue;
    }
    UserLookup result;
    if (rc == 0 && found) {
      result.status = UserLookup::Status::found;
      result.account = {found->pw_name ? found->pw_name : "", found->pw_uid, found->pw_gid,
                        found->pw_dir ? found->pw_dir : ""};
      return result;
    }
    // getpwnam_r(3): these codes are also how some services say "no such name".
    if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
      result.status = UserLookup::Status::unknown;
      return result;
    }
    result.reason = std::string("user database unavailable: ") + std::strerror(rc);
    return result;
  }
}

}  // namespace

UserLookup find_user(std::string_view name) {
  if (name.empty() || name.find('\0') != std::string_view::npos) {
    return UserLookup{UserLookup::Status::unknown, {}, {}};
  }
  const std::string text(name);
  return ask_database([&](passwd* entry, char* buffer, std::size_t size, passwd** found) {
    return getpwnam_r(text.c_str(), entry, buffer, size, found);
  });
}

UserLookup find_user(uid_t uid) {
  return ask_database([&](passwd* entry, char* buffer, std::size_t size, passwd** found) {
    return getpwuid_r(uid, entry, buffer, size, found);
  });
}

std::optional<std::vector<gid_t>> group_ids(const std::string& user, gid_t primary) {
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (getgrouplist(user.c_str(), primary, groups.data(), &count) < 0) {
    if (count <= 0 || count > 65536) return std::nullopt;
    groups.resize(static_cast<std::size_t>(count));
    if (getgrouplist(user.c_str(), primary, groups.data(), &count) < 0) return std::nullopt;
  }
  groups.resize(static_cast<std::size_t>(count));
  return groups;
}

}  // namespace authpolicy
