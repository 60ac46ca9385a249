// HOTP/TOTP values via OpenSSL HMAC, base32/hex codecs, and constant-time code comparison.
#include "factors/totp/otp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdio>

namespace authpolicy::totp {

namespace {

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

const EVP_MD* digest_for(HashAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case HashAlgorithm::sha1:
      return EVP_sha1();
    case HashAlgorithm::sha256:
      return EVP_sha256();
    case HashAlgorithm::sha512:
      return EVP_sha512();
  }
  return nullptr;
}

// The 5-bit value of one base32 character, or -1.
int base32_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<HashAlgorithm> parse_algorithm(std::string_view text) noexcept {
  std::string lowered;
  for (char c : text) {
    if (c != '-') lowered.push_back(ascii_lower(c));
  }
  if (lowered == "sha1") return HashAlgorithm::sha1;
  if (lowered == "sha256") return HashAlgorithm::sha256;
  if (lowered == "sha512") return HashAlgorithm::sha512;
  return std::nullopt;
}

std::string_view algorithm_name(HashAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case HashAlgorithm::sha1:
      return "SHA1";
    case HashAlgorithm::sha256:
      return "SHA256";
    case HashAlgorithm::sha512:
      return "SHA512";
  }
  return "SHA1";
}

std::optional<KeyBytes> base32_decode(std::string_view text) {
  // Padding may only end the text.
  std::size_t end = text.size();
  while (end > 0 && (text[end - 1] == '=' || text[end - 1] == ' ')) --end;
  KeyBytes out(end * 5 / 8 + 1);
  std::size_t produced = 0;
  unsigned buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < end; ++i) {
    if (text[i] == ' ') continue;
    int value = base32_value(text[i]);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 5) | static_cast<unsigned>(value);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.data()[produced++] = static_cast<unsigned char>((buffer >> bits) & 0xff);
    }
  }
  secure_wipe(&buffer, sizeof buffer);  // a plain store to a dead variable is optimised away
  KeyBytes trimmed(produced);
  for (std::size_t i = 0; i < produced; ++i) trimmed.data()[i] = out.data()[i];
  return trimmed;
}

SecretString base32_encode(const unsigned char* data, std::size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string text;
  text.reserve((size * 8 + 4) / 5 + 1);
  unsigned buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      text.push_back(kAlphabet[(buffer >> bits) & 31]);
    }
  }
  if (bits > 0) text.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  secure_wipe(&buffer, sizeof buffer);
  SecretString secret(text);
  secure_wipe(text.data(), text.capacity());
  return secret;
}

std::optional<KeyBytes> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  KeyBytes out(text.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int high = hex_value(text[2 * i]);
    int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.data()[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return out;
}

SecretString hex_encode(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(size * 2 + 1);
  for (std::size_t i = 0; i < size; ++i) {
    text.push_back(kDigits[data[i] >> 4]);
    text.push_back(kDigits[data[i] & 15]);
  }
  SecretString secret(text);
  secure_wipe(text.data(), text.capacity());
  return secret;
}

SecretString hotp_code(const KeyBytes& key, std::uint64_t counter, int digits,
                       HashAlgorithm algorithm) {
  if (digits < kMinDigits || digits > kMaxDigits || key.empty()) return SecretString();
  unsigned char message[8];
  for (int i = 7; i >= 0; --i) {
    message[i] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  if (HMAC(digest_for(algorithm), key.data(), static_cast<int>(key.size()), message, sizeof message,
           mac, &mac_size) == nullptr ||
      mac_size < 20) {
    secure_wipe(mac, sizeof mac);
    return SecretString();
  }
  // RFC 4226 §5.3 dynamic truncation.
  unsigned offset = mac[mac_size - 1] & 0x0f;
  std::uint32_t binary = (static_cast<std::uint32_t>(mac[offset] & 0x7f) << 24) |
                         (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                         (static_cast<std::uint32_t>(mac[offset + 2]) << 8) |
                         static_cast<std::uint32_t>(mac[offset + 3]);
  secure_wipe(mac, sizeof mac);
  std::uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  char text[16];
  std::snprintf(text, sizeof text, "%0*u", digits, static_cast<unsigned>(binary % modulus));
  secure_wipe(&binary, sizeof binary);
  SecretString code(std::string_view(text, static_cast<std::size_t>(digits)));
  secure_wipe(text, sizeof text);
  return code;
}

std::optional<std::uint64_t> time_step(std::int64_t unix_time, std::int64_t step_seconds) noexcept {
  if (unix_time < 0 || step_seconds <= 0) return std::nullopt;
  return static_cast<std::uint64_t>(unix_time / step_seconds);
}

bool codes_equal(std::string_view a, std::string_view b) noexcept {
  // Lengths are public (the number of digits is in the policy); the contents are not.
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool os_random_bytes(unsigned char* data, std::size_t size) noexcept {
  std::size_t filled = 0;
  while (filled < size) {
    ssize_t got = getrandom(data + filled, size - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    filled += static_cast<std::size_t>(got);
  }
  return true;
}

}  // namespace authpolicy::totp
