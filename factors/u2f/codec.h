// Base64 (standard and web-safe) and hex codecs for the pam_u2f authfile fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace authpolicy::u2f {

using Bytes = std::vector<std::uint8_t>;

// Standard alphabet with '=' padding, as pamu2fcfg writes key handles and public keys.
std::string base64_encode(const Bytes& data);
// Accepts the standard alphabet; padding optional but, when present, must be right.
std::optional<Bytes> base64_decode(std::string_view text);
// The web-safe alphabet ('-' and '_'), unpadded, used by the old two-field format.
std::optional<Bytes> base64url_decode(std::string_view text);
std::string base64url_encode(const Bytes& data);

std::optional<Bytes> hex_decode(std::string_view text);
std::string hex_encode(const Bytes& data);

}  // namespace authpolicy::u2f
