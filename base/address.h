// IP addresses and CIDR blocks, numeric only (never DNS): the one model the engine's rhost sets,
// the audit log's address keys and GeoIP lookups share. Policies (what a block with host bits
// means, which words a refusal uses) belong to the callers.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authpolicy {

using u128 = unsigned __int128;

// An address as 16 bytes in network order, IPv4 in its IPv4-mapped form (::ffff:a.b.c.d), so
// "10.1.2.3" and "::ffff:10.1.2.3" are one key and memcmp order (sqlite's blob order) is address
// order: the audit log stores and range-matches source addresses by it.
using AddressKey = std::array<std::uint8_t, 16>;

// An IPv4 or IPv6 address. IPv4-mapped IPv6 (::ffff:a.b.c.d) is stored as the IPv4 address, so it
// matches IPv4 set entries, is found in IPv4-only GeoIP databases and has the key of that IPv4.
struct IpAddress {
  bool v4 = true;
  u128 value = 0;  // IPv4 in the low 32 bits

  // The address a literal writes, or nullopt: only inet_pton's strict forms are addresses (a
  // dotted quad without leading zeros, IPv6 with or without an embedded dotted quad). Host
  // names, zone ids ("fe80::1%eth0"), brackets, blanks, a prefix, inet_aton shorthands ("127.1")
  // and text holding a NUL byte are not.
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_loopback() const;
  // The canonical text (inet_ntop): "10.1.2.3", "2001:db8::1".
  std::string to_string() const;
  AddressKey key() const;
  // Fills `out` as a sockaddr_in (IPv4) or sockaddr_in6, port 0, and returns its length.
  socklen_t to_sockaddr(sockaddr_storage& out) const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// The key of an address literal, or nullopt when `text` is not one (IpAddress::parse).
std::optional<AddressKey> address_key(std::string_view text);

// A block of addresses: the address with every bit beyond `prefix` cleared.
struct Cidr {
  IpAddress base;
  unsigned prefix = 0;         // counted in the width of `base`: 0-32 for IPv4, 0-128 for IPv6
  bool host_bits_set = false;  // "10.0.0.1/8": the text had bits beyond the prefix

  u128 first() const;
  u128 last() const;
  AddressKey first_key() const { return IpAddress{base.v4, first()}.key(); }
  AddressKey last_key() const { return IpAddress{base.v4, last()}.key(); }
  std::string to_string() const;  // "10.0.0.0/8"
};

// What reading "ADDR" or "ADDR/PREFIX" gave. The prefix counts in the width the address was
// written in: 0-32 after a dotted quad, 0-128 after IPv6 (IPv4-mapped included); only decimal
// digits. An IPv4-mapped block of prefix 96 or more is the IPv4 block it maps
// ("::ffff:10.0.0.0/104" is 10.0.0.0/8). A block with host bits is read with the bits cleared
// and `host_bits_set`: whether that is a mistake is the caller's to say.
struct CidrText {
  enum class Status { ok, bad_address, bad_prefix };
  Status status = Status::bad_address;
  Cidr block;                     // when ok
  std::string_view address_text;  // the text before the '/' (all of it without one)
  std::string_view prefix_text;   // the text after the '/'; empty without one
  unsigned max_prefix = 0;        // 32 or 128, from how the address was written (not bad_address)

  bool ok() const noexcept { return status == Status::ok; }
};

// `text` must outlive the result's views.
CidrText read_cidr(std::string_view text);

}  // namespace authpolicy
