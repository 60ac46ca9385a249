// RFC 4226 HOTP / RFC 6238 TOTP code computation and the encodings secrets are stored in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/secret.h"
#include "factors/totp/totp_limits.h"

namespace authpolicy::totp {

enum class HashAlgorithm { sha1, sha256, sha512 };

// "sha1", "sha256", "sha512" (any case, "SHA-256" style accepted too).
std::optional<HashAlgorithm> parse_algorithm(std::string_view text) noexcept;
std::string_view algorithm_name(HashAlgorithm algorithm) noexcept;  // "SHA1", "SHA256", "SHA512"

// RFC 4226 §4 asks for at least 128 bits; google-authenticator enrols 80-bit secrets, so 80 is
// the floor below which a secret file is treated as malformed.
inline constexpr std::size_t kMinKeyBytes = 10;

// Key bytes that are wiped when they go away.
class KeyBytes {
 public:
  KeyBytes() = default;
  explicit KeyBytes(std::size_t size) : bytes_(size) {}
  KeyBytes(const KeyBytes&) = delete;
  KeyBytes& operator=(const KeyBytes&) = delete;
  KeyBytes(KeyBytes&& other) noexcept : bytes_(std::move(other.bytes_)) { other.wipe(); }
  KeyBytes& operator=(KeyBytes&& other) noexcept {
    if (this != &other) {
      wipe();
      bytes_ = std::move(other.bytes_);
      other.wipe();
    }
    return *this;
  }
  ~KeyBytes() { wipe(); }

  unsigned char* data() noexcept { return bytes_.data(); }
  const unsigned char* data() const noexcept { return bytes_.data(); }
  std::size_t size() const noexcept { return bytes_.size(); }
  bool empty() const noexcept { return bytes_.empty(); }
  void wipe() noexcept {
    secure_wipe(bytes_.data(), bytes_.capacity());
    bytes_.clear();
  }

 private:
  std::vector<unsigned char> bytes_;
};

// RFC 4648 base32. Decoding accepts either case, ignores spaces and trailing '=' padding, and
// refuses anything else.
std::optional<KeyBytes> base32_decode(std::string_view text);
SecretString base32_encode(const unsigned char* data, std::size_t size);

std::optional<KeyBytes> hex_decode(std::string_view text);
SecretString hex_encode(const unsigned char* data, std::size_t size);

// The HOTP value for `counter`, zero-padded to `digits` (6..8). Empty on an HMAC failure.
SecretString hotp_code(const KeyBytes& key, std::uint64_t counter, int digits,
                       HashAlgorithm algorithm);

// The RFC 6238 time-step counter T = floor(unix_time / step) (T0 = 0). Times before the epoch
// have no counter.
std::optional<std::uint64_t> time_step(std::int64_t unix_time, std::int64_t step_seconds) noexcept;

// Compares two codes without a timing difference that depends on where they differ.
bool codes_equal(std::string_view a, std::string_view b) noexcept;

// Fills `size` bytes from the OS random number generator (getrandom). False on failure.
bool os_random_bytes(unsigned char* data, std::size_t size) noexcept;

}  // namespace authpolicy::totp
