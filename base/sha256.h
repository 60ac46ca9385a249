// The SHA-256 that names a policy version in the audit log: the hex text `sha256sum` prints.
#pragma once

#include <string>
#include <string_view>

namespace authpolicy {

// Lower-case hex of the SHA-256 of `data` (from libmd, not OpenSSL: see docs/cost.md); empty
// only if libmd fails.
std::string sha256_hex(std::string_view data);

}  // namespace authpolicy
