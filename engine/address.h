// IP addresses, CIDR blocks and address sets: parsing, host-bit checks and fast membership.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace authpolicy {

using u128 = unsigned __int128;

// An IPv4 or IPv6 address. IPv4-mapped IPv6 (::ffff:a.b.c.d) is stored as the IPv4 address, so
// it matches IPv4 set entries.
struct IpAddress {
  bool v4 = true;
  u128 value = 0;  // IPv4 in the low 32 bits

  // Returns nullopt for anything that is not a numeric address (host names included: no DNS).
  static std::optional<IpAddress> parse(std::string_view text);
  bool is_loopback() const;
  std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

struct Cidr {
  IpAddress base;
  unsigned prefix = 0;
  bool host_bits_set = false;  // "10.0.0.1/8": the address had bits beyond the prefix

  // Accepts "a.b.c.d", "a.b.c.d/n", IPv6 forms with optional "/n"; nullopt with `error` set when
  // invalid. A host-bit CIDR is accepted with the bits cleared and host_bits_set true.
  static std::optional<Cidr> parse(std::string_view text, std::string* error);
  u128 first() const;
  u128 last() const;
  std::string to_string() const;
};

// A set of addresses and blocks, v4 and v6, as sorted disjoint ranges: lookups are binary
// searches over packed start keys, so 100,000 entries cost about 17 comparisons.
class AddressSet {
 public:
  void add(const Cidr& block);
  // Merges the ranges added so far; call once after the last add().
  void finish();
  bool contains(const IpAddress& address) const;
  bool empty() const { return v4_.empty() && v6_.empty(); }

  struct Range {
    u128 first;
    u128 last;
  };
  const std::vector<Range>& ranges(bool v4) const { return v4 ? v4_ : v6_; }

 private:
  std::vector<Range> v4_;
  std::vector<Range> v6_;
  std::vector<std::uint32_t> v4_starts_;  // v4_[i].first, for the search
  std::vector<u128> v6_starts_;           // v6_[i].first, for the search
};

}  // namespace authpolicy
