// uid_text: a uid with its account name, for messages.
#include "base/account_name.h"

#include <pwd.h>

#include <vector>

namespace authpolicy {

std::string uid_text(uid_t uid) {
  std::string text = "uid " + std::to_string(uid);
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
      found->pw_name != nullptr && found->pw_name[0] != '\0') {
    text += " (" + std::string(found->pw_name) + ")";
  }
  return text;
}

}  // namespace authpolicy
