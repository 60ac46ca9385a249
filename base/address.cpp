// Address and CIDR parsing with inet_pton only (numeric, never DNS), and the forms others need.
#include "base/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace authpolicy {
namespace {

// The longest literal inet_pton accepts is 45 characters
// ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"): anything longer is not copied.
constexpr std::size_t kMaxLiteral = INET6_ADDRSTRLEN - 1;

bool is_mapped(u128 value) { return (value >> 32) == 0xffff; }

// An address as written: IPv4 from a dotted quad, IPv6 (mapped or not) from the rest.
std::optional<IpAddress> parse_as_written(std::string_view text) {
  if (text.empty() || text.size() > kMaxLiteral) return std::nullopt;
  // A NUL would end the text inet_pton reads: "10.0.0.1\0junk" is not 10.0.0.1.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  char literal[kMaxLiteral + 1];
  std::memcpy(literal, text.data(), text.size());
  literal[text.size()] = '\0';
  in_addr v4{};
  if (inet_pton(AF_INET, literal, &v4) == 1) return IpAddress{true, ntohl(v4.s_addr)};
  in6_addr v6{};
  if (inet_pton(AF_INET6, literal, &v6) != 1) return std::nullopt;
  u128 value = 0;
  for (unsigned char byte : v6.s6_addr) value = (value << 8) | byte;
  return IpAddress{false, value};
}

// Mask of the top `prefix` bits within a `width`-bit address.
u128 network_mask(unsigned prefix, unsigned width) {
  if (prefix == 0) return 0;
  const u128 all = width == 128 ? ~static_cast<u128>(0) : ((static_cast<u128>(1) << width) - 1);
  return all & ~((static_cast<u128>(1) << (width - prefix)) - 1);
}

void write_bytes(u128 value, unsigned char* out, int count) {
  for (int i = count - 1; i >= 0; --i) {
    out[i] = static_cast<unsigned char>(value & 0xff);
    value >>= 8;
  }
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::optional<IpAddress> address = parse_as_written(text);
  if (address && !address->v4 && is_mapped(address->value)) {
    return IpAddress{true, address->value & 0xffffffffu};
  }
  return address;
}

bool IpAddress::is_loopback() const {
  if (v4) return (value >> 24) == 127;
  return value == 1;
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (v4) {
    in_addr a{};
    a.s_addr = htonl(static_cast<std::uint32_t>(value));
    inet_ntop(AF_INET, &a, buffer, sizeof buffer);
    return buffer;
  }
  in6_addr a{};
  write_bytes(value, a.s6_addr, 16);
  inet_ntop(AF_INET6, &a, buffer, sizeof buffer);
  return buffer;
}

AddressKey IpAddress::key() const {
  AddressKey key{};
  if (v4) {
    key[10] = 0xff;
    key[11] = 0xff;
    write_bytes(value, key.data() + 12, 4);
    return key;
  }
  write_bytes(value, key.data(), 16);
  return key;
}

socklen_t IpAddress::to_sockaddr(sockaddr_storage& out) const {
  out = sockaddr_storage{};
  if (v4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(static_cast<std::uint32_t>(value));
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  in6->sin6_family = AF_INET6;
  write_bytes(value, in6->sin6_addr.s6_addr, 16);
  return sizeof(sockaddr_in6);
}

std::optional<AddressKey> address_key(std::string_view text) {
  std::optional<IpAddress> address = IpAddress::parse(text);
  if (!address) return std::nullopt;
  return address->key();
}

u128 Cidr::first() const { return base.value; }

u128 Cidr::last() const {
  const unsigned width = base.v4 ? 32 : 128;
  if (prefix == width) return base.value;
  if (prefix == 0) return width == 128 ? ~static_cast<u128>(0) : static_cast<u128>(0xffffffffu);
  const u128 host = (static_cast<u128>(1) << (width - prefix)) - 1;
  return base.value | host;
}

std::string Cidr::to_string() const { return base.to_string() + "/" + std::to_string(prefix); }

CidrText read_cidr(std::string_view text) {
  CidrText read;
  const std::size_t slash = text.find('/');
  read.address_text = text.substr(0, slash);
  if (slash != std::string_view::npos) read.prefix_text = text.substr(slash + 1);
  const std::optional<IpAddress> written = parse_as_written(read.address_text);
  if (!written) return read;  // bad_address

  Cidr& block = read.block;
  block.base = *written;
  const unsigned width = written->v4 ? 32 : 128;
  read.max_prefix = width;
  block.prefix = width;
  if (slash != std::string_view::npos) {
    const std::string_view digits = read.prefix_text;
    unsigned prefix = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() ||
        prefix > width) {
      read.status = CidrText::Status::bad_prefix;
      return read;
    }
    block.prefix = prefix;
  }
  const u128 mask = network_mask(block.prefix, width);
  block.host_bits_set = (block.base.value & ~mask) != 0;
  block.base.value &= mask;
  // An IPv4-mapped block is the IPv4 block it maps, so it matches IPv4 requests.
  if (!block.base.v4 && is_mapped(block.base.value) && block.prefix >= 96) {
    block.base = IpAddress{true, block.base.value & 0xffffffffu};
    block.prefix -= 96;
  }
  read.status = CidrText::Status::ok;
  return read;
}

}  // namespace authpolicy
