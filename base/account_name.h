// Naming accounts in messages: "uid 1004 (alice)", the number kept for grep and the name for
// people.
#pragma once

#include <sys/types.h>

#include <string>

namespace authpolicy {

// "uid N (NAME)" when the user database names uid N, else "uid N". Only for messages about a
// refusal or a problem: it may ask NSS (LDAP, SSSD), so it is never on the path of a decision that
// goes well.
std::string uid_text(uid_t uid);

}  // namespace authpolicy
