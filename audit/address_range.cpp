// Parsing of IP literals and CIDR blocks into 16-byte keys (v4 stored IPv4-mapped).
#include "audit/address_range.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace authpolicy::audit {
namespace {

// Returns the key and whether the text was written as IPv4 (prefixes then count from 96).
std::optional<std::pair<AddressKey, bool>> parse_with_family(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  std::string copy(text);  // inet_pton needs a terminated string
  AddressKey key{};
  in_addr v4{};
  if (inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
    key[10] = 0xff;
    key[11] = 0xff;
    std::memcpy(key.data() + 12, &v4, 4);
    return std::pair{key, true};
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, copy.c_str(), &v6) == 1) {
    std::memcpy(key.data(), &v6, 16);
    return std::pair{key, false};
  }
  return std::nullopt;
}

}  // namespace

std::optional<AddressKey> parse_address(std::string_view text) {
  auto parsed = parse_with_family(text);
  if (!parsed) return std::nullopt;
  return parsed->first;
}

std::optional<AddressRange> parse_address_range(std::string_view text, std::string* error) {
  auto slash = text.find('/');
  auto parsed = parse_with_family(text.substr(0, slash));
  if (!parsed) {
    *error = "not an IP address: " + std::string(text.substr(0, slash));
    return std::nullopt;
  }
  auto [key, is_v4] = *parsed;
  if (slash == std::string_view::npos) return AddressRange{key, key};

  auto prefix_text = text.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] =
      std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), prefix);
  int max_prefix = is_v4 ? 32 : 128;
  if (prefix_text.empty() || ec != std::errc() || end != prefix_text.data() + prefix_text.size() ||
      prefix < 0 || prefix > max_prefix) {
    *error =
        "bad prefix length in " + std::string(text) + " (0-" + std::to_string(max_prefix) + ")";
    return std::nullopt;
  }
  int bits = is_v4 ? prefix + 96 : prefix;
  AddressRange range{key, key};
  for (int bit = bits; bit < 128; ++bit) {
    auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    if (key[bit / 8] & mask) {
      *error = "host bits set in " + std::string(text) + " (did you mean the network address?)";
      return std::nullopt;
    }
    range.last[bit / 8] |= mask;
  }
  return range;
}

}  // namespace authpolicy::audit
