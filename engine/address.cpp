// Range-based address set membership.
#include "engine/address.h"

#include <algorithm>

namespace authpolicy {

void AddressSet::add(const Cidr& block) {
  (block.base.v4 ? v4_ : v6_).push_back(Range{block.first(), block.last()});
}

void AddressSet::finish() {
  for (auto* ranges : {&v4_, &v6_}) {
    std::sort(ranges->begin(), ranges->end(),
              [](const Range& a, const Range& b) { return a.first < b.first; });
    std::vector<Range> merged;
    for (const Range& r : *ranges) {
      if (!merged.empty() && (merged.back().last == ~static_cast<u128>(0) ||
                              r.first <= merged.back().last + 1)) {
        merged.back().last = std::max(merged.back().last, r.last);
        continue;
      }
      merged.push_back(r);
    }
    *ranges = std::move(merged);
  }
  // The search keys on their own, packed: 4 bytes per IPv4 range instead of 32, so a set of
  // 100,000 blocks is searched in a few hundred KiB of cache instead of megabytes.
  v4_starts_.clear();
  v4_starts_.reserve(v4_.size());
  for (const Range& r : v4_) v4_starts_.push_back(static_cast<std::uint32_t>(r.first));
  v6_starts_.clear();
  v6_starts_.reserve(v6_.size());
  for (const Range& r : v6_) v6_starts_.push_back(r.first);
}

namespace {

// The last range starting at or before `value` is the only one that can hold it.
template <typename Key>
bool held(const std::vector<Key>& starts, const std::vector<AddressSet::Range>& ranges,
          u128 value) {
  const auto after = std::upper_bound(starts.begin(), starts.end(), static_cast<Key>(value));
  if (after == starts.begin()) return false;
  return value <= ranges[static_cast<std::size_t>(after - starts.begin()) - 1].last;
}

}  // namespace

bool AddressSet::contains(const IpAddress& address) const {
  return address.v4 ? held(v4_starts_, v4_, address.value) : held(v6_starts_, v6_, address.value);
}

}  // namespace authpolicy
