// Where a user's TOTP enrolment lives and who may own it: shared by the kit's enrolment store
// (kit_enrolment.cpp, in the kits library the engine links) and the provider (totp_store.cpp).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace authpolicy::totp {

struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

// The account of `user`, or nullopt when the name service does not know it or fails.
std::optional<Account> lookup_account(std::string_view user);

// A user name that is safe to put in a path and in a whitespace-separated users file.
bool user_name_is_safe(std::string_view user);

}  // namespace authpolicy::totp
