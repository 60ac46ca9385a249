// A decision's id: 128 random bits, so the same decision is named the same way in the log, the
// journal and every export, on every host, without asking anyone for a number.
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "audit/audit_record.h"
#include "audit/time_text.h"

namespace authpolicy::audit {
namespace {

// Used only when the kernel's random pool is not ready (very early boot): unique, not secret.
// The id names a decision; it is never a credential.
void fallback_bytes(unsigned char* out, std::size_t size) {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t state = static_cast<std::uint64_t>(now_utc_us()) ^
                        (static_cast<std::uint64_t>(getpid()) << 40) ^
                        (counter.fetch_add(1) * 0x9e3779b97f4a7c15ull);
  for (std::size_t i = 0; i < size; ++i) {
    state ^= state >> 33;  // splitmix64's finaliser, one byte at a time
    state *= 0xff51afd7ed558ccdull;
    state ^= state >> 29;
    out[i] = static_cast<unsigned char>(state >> 56);
    state += 0x9e3779b97f4a7c15ull;
  }
}

}  // namespace

std::string new_decision_id() {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof bytes, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof bytes)) {
    fallback_bytes(bytes, sizeof bytes);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (std::size_t i = 0; i < sizeof bytes; ++i) {
    id[2 * i] = kHex[bytes[i] >> 4];
    id[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return id;
}

}  // namespace authpolicy::audit
