// IP addresses and CIDR blocks as 16-byte keys, so the log can index and range-match source
// addresses.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authpolicy::audit {

// An IPv6 address, or an IPv4 address in its IPv4-mapped form (::ffff:a.b.c.d), so that
// "10.1.2.3" and "::ffff:10.1.2.3" are the same key. Byte order is network order, so memcmp
// order (sqlite's blob order) is address order.
using AddressKey = std::array<std::uint8_t, 16>;

// Parses a literal IPv4 or IPv6 address; nullopt for anything else (host names, zone ids, junk).
// No DNS is ever made.
std::optional<AddressKey> parse_address(std::string_view text);

// A closed range [first, last] of address keys: one address or one CIDR block.
struct AddressRange {
  AddressKey first{};
  AddressKey last{};
};

// Parses "ADDR" or "ADDR/PREFIX" (v4 prefix 0-32, v6 0-128). A block with host bits set
// ("10.1.2.3/8") is refused with a message, because it usually means a typo.
// On failure returns nullopt and sets *error.
std::optional<AddressRange> parse_address_range(std::string_view text, std::string* error);

}  // namespace authpolicy::audit
