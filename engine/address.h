// Address sets for rhost conditions: sorted disjoint ranges with fast membership. The addresses
// and blocks themselves are base/address.h's.
#pragma once

#include <cstdint>
#include <vector>

#include "base/address.h"

namespace authpolicy {

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
