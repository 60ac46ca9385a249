// The one user lookup: the password database through getpwnam_r/getpwuid_r (reentrant, with a
// buffer that grows on ERANGE), never the static getpwnam/getpwuid.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace authpolicy {

struct UserAccount {
  std::string name;  // as the database spells it
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;  // may be empty
};

// How a lookup ended: found, no such user, or the database could not answer (`reason` says why).
// Library code reports failure this way: a result with a status and a reason (ARCHITECTURE.md).
struct UserLookup {
  enum class Status { found, unknown, error };
  Status status = Status::error;
  UserAccount account;  // when found
  std::string reason;   // when error

  bool found() const noexcept { return status == Status::found; }
};

// A name with a NUL byte is unknown (it would otherwise be looked up as its prefix).
UserLookup find_user(std::string_view name);
UserLookup find_user(uid_t uid);

// Every group `user` is in, by id: `primary` (the account's gid) and the supplementary groups the
// group database lists (getgrouplist, grown to the count it asks for). nullopt when the database
// cannot say.
std::optional<std::vector<gid_t>> group_ids(const std::string& user, gid_t primary);

}  // namespace authpolicy
