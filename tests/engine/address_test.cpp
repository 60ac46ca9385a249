// Address set membership, including a 100,000-entry set checked against a scan.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "engine/address.h"

namespace authpolicy {
namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

AddressSet set_of(std::initializer_list<const char*> blocks) {
  AddressSet set;
  for (const char* b : blocks) {
    const CidrText read = read_cidr(b);
    EXPECT_TRUE(read.ok()) << b;
    if (read.ok()) set.add(read.block);
  }
  set.finish();
  return set;
}

// The reference answer: a scan over every block.
bool in_any(const std::vector<Cidr>& blocks, const IpAddress& probe) {
  return std::any_of(blocks.begin(), blocks.end(), [&](const Cidr& b) {
    return probe.v4 == b.base.v4 && probe.value >= b.first() && probe.value <= b.last();
  });
}

TEST(AddressSet, MembershipV4V6AndMapped) {
  const AddressSet s = set_of({"10.0.0.0/8", "192.168.1.0/24", "fd00::/8", "203.0.113.7"});
  EXPECT_TRUE(s.contains(ip("10.255.255.255")));
  EXPECT_FALSE(s.contains(ip("11.0.0.0")));
  EXPECT_TRUE(s.contains(ip("192.168.1.0")));
  EXPECT_FALSE(s.contains(ip("192.168.2.0")));
  EXPECT_TRUE(s.contains(ip("fdff:ffff::1")));
  EXPECT_FALSE(s.contains(ip("fe00::1")));
  EXPECT_TRUE(s.contains(ip("::ffff:10.9.8.7")));
  EXPECT_TRUE(s.contains(ip("203.0.113.7")));
  EXPECT_FALSE(s.contains(ip("203.0.113.8")));
}

TEST(AddressSet, MappedBlockMatchesIpv4) {
  const AddressSet s = set_of({"::ffff:10.0.0.0/104"});
  EXPECT_TRUE(s.contains(ip("10.1.1.1")));
  EXPECT_FALSE(s.contains(ip("11.1.1.1")));
}

TEST(AddressSet, EdgesOfTheSpace) {
  const AddressSet s = set_of({"0.0.0.0/0", "::/0"});
  EXPECT_TRUE(s.contains(ip("0.0.0.0")));
  EXPECT_TRUE(s.contains(ip("255.255.255.255")));
  EXPECT_TRUE(s.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
}

TEST(AddressSet, HundredThousandEntriesAgreeWithAScan) {
  std::mt19937 rng(42);
  std::vector<Cidr> blocks;
  AddressSet set;
  for (int i = 0; i < 100000; ++i) {
    Cidr c;
    c.prefix = 16 + rng() % 17;
    c.base = IpAddress{true, rng() & ~((1u << (32 - c.prefix)) - 1) & 0xffffffffu};
    if (c.prefix == 32) c.base.value = rng();
    blocks.push_back(c);
    set.add(c);
  }
  set.finish();
  for (int i = 0; i < 2000; ++i) {
    const IpAddress probe{true, rng()};
    ASSERT_EQ(set.contains(probe), in_any(blocks, probe)) << probe.to_string();
  }
}

TEST(AddressSet, ManyIpv6BlocksAgreeWithAScanAtTheirEdges) {
  std::mt19937_64 rng(43);
  std::vector<Cidr> blocks;
  AddressSet set;
  for (int i = 0; i < 5000; ++i) {
    Cidr c;
    c.base.v4 = false;
    c.prefix = 32 + static_cast<unsigned>(rng() % 97);
    const u128 raw = (static_cast<u128>(rng()) << 64) | rng();
    const u128 host = c.prefix == 128 ? 0 : (~static_cast<u128>(0)) >> c.prefix;
    c.base.value = raw & ~host;
    blocks.push_back(c);
    set.add(c);
  }
  set.finish();
  std::vector<IpAddress> probes;
  for (int i = 0; i < 500; ++i) {
    const Cidr& b = blocks[rng() % blocks.size()];
    for (u128 v : {b.first() - 1, b.first(), b.last(), b.last() + 1}) probes.push_back({false, v});
    probes.push_back({false, (static_cast<u128>(rng()) << 64) | rng()});
  }
  for (const IpAddress& probe : probes) {
    ASSERT_EQ(set.contains(probe), in_any(blocks, probe)) << probe.to_string();
  }
  // The set holds IPv6 blocks only: no IPv4 address is in it, whatever its bits.
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(set.contains(IpAddress{true, rng() & 0xffffffffu}));
}

}  // namespace
}  // namespace authpolicy
