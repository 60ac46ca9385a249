// Whether a pam() factor names pam_policy.so itself: delegating to ourselves recurses until the
// host (sshd, sudo) runs out of stack.
#pragma once

#include <optional>
#include <string>

namespace authpolicy {

// Why `module` (as written in pam("...")) is this module; nullopt when it is not. Caught by
// name (any path ending in pam_policy.so) and by file identity (device and inode): the
// installed module, and the object this code is running in, which inside sshd or sudo is the
// loaded pam_policy.so itself, whatever its path.
std::optional<std::string> names_this_module(const std::string& module);

}  // namespace authpolicy
