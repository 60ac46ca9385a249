// `authpolicy audit --rhost`'s address or block, as a range of address keys.
#include "audit/address_range.h"

namespace authpolicy::audit {

std::optional<AddressRange> parse_address_range(std::string_view text, std::string* error) {
  const CidrText read = read_cidr(text);
  switch (read.status) {
    case CidrText::Status::ok: break;
    case CidrText::Status::bad_address:
      *error = "not an IP address: " + std::string(read.address_text);
      return std::nullopt;
    case CidrText::Status::bad_prefix:
      *error = "bad prefix length in " + std::string(text) + " (0-" +
               std::to_string(read.max_prefix) + ")";
      return std::nullopt;
  }
  if (read.block.host_bits_set) {
    *error = "host bits set in " + std::string(text) + " (did you mean the network address?)";
    return std::nullopt;
  }
  return AddressRange{read.block.first_key(), read.block.last_key()};
}

}  // namespace authpolicy::audit
