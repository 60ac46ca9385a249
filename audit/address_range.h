// The audit log's address queries: a source address or CIDR block as a range of 16-byte keys
// (base/address.h), refusing what is probably a typo.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/address.h"

namespace authpolicy::audit {

// A closed range [first, last] of address keys: one address or one CIDR block.
struct AddressRange {
  AddressKey first{};
  AddressKey last{};
};

// Parses "ADDR" or "ADDR/PREFIX" (v4 prefix 0-32, v6 0-128). A block with host bits set
// ("10.1.2.3/8") is refused with a message, because in a query it usually means a typo (the
// policy checker only warns: W101). On failure returns nullopt and sets *error.
std::optional<AddressRange> parse_address_range(std::string_view text, std::string* error);

}  // namespace authpolicy::audit
