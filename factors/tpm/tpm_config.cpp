// Validation of the `tpm { … }` settings and the root-only owner password file.
#include "factors/tpm/tpm_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "base/file_trust.h"

namespace authpolicy::tpm {

namespace {

// Parses a decimal or 0x-prefixed hexadecimal number; nullopt on any junk.
std::optional<std::uint64_t> parse_number(const std::string& text) {
  std::string_view digits = text;
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
    base = 16;
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::optional<TpmConfig> tpm_config_from_settings(const Settings& tpm_settings,
                                                  std::string* error) {
  TpmConfig config;
  config.tcti = tpm_settings.string_or("tcti", kDefaultTcti);
  if (config.tcti.empty()) {
    *error = "tpm: tcti must not be empty";
    return std::nullopt;
  }
  config.owner_auth_file = tpm_settings.string_or("owner_auth_file", "");

  std::optional<std::uint64_t> base;
  const auto& values = tpm_settings.values();
  auto it = values.find("nv_base");
  if (it == values.end()) {
    base = kDefaultNvBase;
  } else if (const auto* number = std::get_if<std::int64_t>(&it->second)) {
    if (*number >= 0) base = static_cast<std::uint64_t>(*number);
  } else if (const auto* text = std::get_if<std::string>(&it->second)) {
    base = parse_number(*text);
  }
  if (!base || *base < kNvIndexFirst || *base > kNvIndexLast) {
    *error = "tpm: nv_base must be an NV index between 0x01000000 and 0x01BFFFFF";
    return std::nullopt;
  }
  config.nv_base = static_cast<std::uint32_t>(*base);
  return config;
}

std::optional<std::uint32_t> nv_index_for_uid(std::uint32_t nv_base, uid_t uid) noexcept {
  if (nv_base < kNvIndexFirst || nv_base > kNvIndexLast) return std::nullopt;
  const std::uint64_t index = std::uint64_t{nv_base} + std::uint64_t{uid};
  if (index > kNvIndexLast) return std::nullopt;
  return static_cast<std::uint32_t>(index);
}

std::optional<SecretString> read_owner_auth_file(const std::string& path, std::string* error) {
  // The one way to open a trusted file (base/file_trust.h): every folder on the way checked, the
  // file root's alone, no symlink at the end, closed to group and others.
  TrustRules rules;
  rules.forbidden_file_bits = S_IRWXG | S_IRWXO;
  rules.final_symlink = false;
  TrustedFile file = open_trusted(path, rules);
  if (file.status == TrustStatus::missing || file.status == TrustStatus::io_error) {
    *error = "tpm: cannot open owner_auth_file " + path + ": " + file.reason;
    return std::nullopt;
  }
  if (!file.ok()) {
    *error = "tpm: owner_auth_file " + path +
             " must be a regular file owned by root with mode 0600 or 0400: " + file.reason;
    return std::nullopt;
  }
  const int fd = file.fd();
  // The owner password is at most a SHA-512 digest long; read one byte more to notice overflow.
  std::array<char, 66> buffer{};
  std::size_t used = 0;
  while (used < buffer.size()) {
    const ssize_t got = ::read(fd, buffer.data() + used, buffer.size() - used);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      secure_wipe(buffer.data(), buffer.size());
      *error = "tpm: cannot read owner_auth_file " + path;
      return std::nullopt;
    }
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  if (used > 0 && buffer[used - 1] == '\n') --used;
  if (used > 64) {
    secure_wipe(buffer.data(), buffer.size());
    *error = "tpm: owner_auth_file " + path + " holds more than 64 bytes";
    return std::nullopt;
  }
  std::optional<SecretString> auth(std::in_place, std::string_view(buffer.data(), used));
  secure_wipe(buffer.data(), buffer.size());
  return auth;
}

}  // namespace authpolicy::tpm
