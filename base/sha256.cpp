// SHA-256 through libmd: a small library, cheap to map in every login (docs/cost.md).
#include "base/sha256.h"

// libmd (<sha2.h>) and not OpenSSL: OpenSSL 3 loads its providers and reads openssl.cnf in every
// login process (5M instructions) to hash a few hundred bytes; libmd costs ~0.1M (docs/cost.md).
#include <sha2.h>
#include <sys/types.h>  // sha2.h uses u_int8_t and size_t without including it

#include <cstdint>

namespace authpolicy {

std::string sha256_hex(std::string_view data) {
  char hex[SHA256_DIGEST_STRING_LENGTH];
  if (SHA256Data(reinterpret_cast<const std::uint8_t*>(data.data()), data.size(), hex) == nullptr) {
    return {};
  }
  return std::string(hex, SHA256_DIGEST_STRING_LENGTH - 1);
}

}  // namespace authpolicy
