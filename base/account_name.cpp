// uid_text: a uid with its account name, for messages.
#include "base/account_name.h"

#include "base/user_lookup.h"

namespace authpolicy {

std::string uid_text(uid_t uid) {
  std::string text = "uid " + std::to_string(uid);
  const UserLookup found = find_user(uid);
  if (found.found() && !found.account.name.empty()) text += " (" + found.account.name + ")";
  return text;
}

}  // namespace authpolicy
