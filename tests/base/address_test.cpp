// The one address model (base/address.h): what is an address, the forms it takes (key, sockaddr,
// text), and how "ADDR/PREFIX" reads, at its bounds.
#include "base/address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace authpolicy {
namespace {

IpAddress ip(const std::string& text) {
  auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress{});
}

AddressKey key_of(std::initializer_list<int> bytes) {
  AddressKey key{};
  std::size_t i = 0;
  for (int b : bytes) key[i++] = static_cast<std::uint8_t>(b);
  return key;
}

TEST(IpAddress, Ipv4) {
  const IpAddress a = ip("192.0.2.1");
  EXPECT_TRUE(a.v4);
  EXPECT_EQ(a.value, static_cast<u128>(0xc0000201u));
  EXPECT_EQ(a.to_string(), "192.0.2.1");
  EXPECT_EQ(ip("0.0.0.0").value, 0u);
  EXPECT_EQ(ip("255.255.255.255").value, static_cast<u128>(0xffffffffu));
}

TEST(IpAddress, Ipv6IsWrittenCanonically) {
  const IpAddress a = ip("2001:DB8:0:0:0:0:0:1");
  EXPECT_FALSE(a.v4);
  EXPECT_EQ(a.value, (static_cast<u128>(0x20010db8u) << 96) | 1);
  EXPECT_EQ(a.to_string(), "2001:db8::1");
  EXPECT_EQ(ip("::").to_string(), "::");
  EXPECT_EQ(ip("::1").to_string(), "::1");
  // The longest literal there is, 45 characters.
  EXPECT_EQ(ip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255").value, ~static_cast<u128>(0));
}

TEST(IpAddress, MappedIpv4IsIpv4) {
  const IpAddress mapped = ip("::ffff:10.1.2.3");
  EXPECT_TRUE(mapped.v4);
  EXPECT_EQ(mapped, ip("10.1.2.3"));
  EXPECT_EQ(ip("::FFFF:0a01:0203"), ip("10.1.2.3"));
  EXPECT_EQ(mapped.to_string(), "10.1.2.3");
  EXPECT_TRUE(ip("::ffff:127.0.0.1").is_loopback());
  // Other IPv6 forms that embed an IPv4 address are IPv6 addresses.
  EXPECT_FALSE(ip("::10.1.2.3").v4);
  EXPECT_FALSE(ip("64:ff9b::10.1.2.3").v4);
  EXPECT_FALSE(ip("::fffe:10.1.2.3").v4);
}

TEST(IpAddress, Loopback) {
  EXPECT_TRUE(ip("127.0.0.1").is_loopback());
  EXPECT_TRUE(ip("127.255.1.2").is_loopback());
  EXPECT_TRUE(ip("::1").is_loopback());
  EXPECT_FALSE(ip("128.0.0.1").is_loopback());
  EXPECT_FALSE(ip("::2").is_loopback());
  EXPECT_FALSE(ip("::").is_loopback());
}

TEST(IpAddress, ZoneIdsAreRefused) {
  EXPECT_FALSE(IpAddress::parse("fe80::1%eth0"));
  EXPECT_FALSE(IpAddress::parse("fe80::1%1"));
  EXPECT_FALSE(IpAddress::parse("fe80::1%"));
  EXPECT_FALSE(address_key("fe80::1%eth0"));
}

TEST(IpAddress, HostNamesAndShorthandsAreRefused) {
  for (const std::string& text : std::vector<std::string>{
           "localhost", "host.example.com", "example.com", "81.2.69.160.example.com",
           "127.1",        // inet_aton shorthand: getaddrinfo would take it
           "0x7f.0.0.1",   // hex octet
           "2130706433",   // one number
           "010.0.0.1",    // a leading zero (octal to some parsers)
           "192.0.2.256", "192.0.2", "1.2.3.4.5", "", " 192.0.2.1", "192.0.2.1 ", "1.2.3.4\n",
           "[2001:db8::1]", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "::ffff:81.2.69.160.1",
           "192.0.2.1/32", "2001:db8::/32",
           // "ffff:…:255.255.255.255" with one more leading zero: 46 characters.
           "0ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", std::string(200, '1')}) {
    EXPECT_FALSE(IpAddress::parse(text)) << "'" << text << "'";
    EXPECT_FALSE(address_key(text)) << "'" << text << "'";
  }
}

TEST(IpAddress, TextWithANulByteIsNotItsPrefix) {
  EXPECT_FALSE(IpAddress::parse(std::string("10.0.0.1\0junk", 13)));
  EXPECT_FALSE(IpAddress::parse(std::string("10.0.0.1\0", 9)));
  EXPECT_FALSE(IpAddress::parse(std::string("::1\0", 4)));
  EXPECT_FALSE(read_cidr(std::string("10.0.0.0\0/8", 11)).ok());
}

TEST(AddressKey, Ipv4IsStoredMapped) {
  EXPECT_EQ(*address_key("10.1.2.3"), key_of({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3}));
  EXPECT_EQ(address_key("10.1.2.3"), address_key("::ffff:10.1.2.3"));
  EXPECT_EQ(*address_key("2001:db8::1"),
            key_of({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(*address_key("::"), AddressKey{});
  EXPECT_EQ(ip("10.1.2.3").key(), *address_key("10.1.2.3"));
}

TEST(AddressKey, ByteOrderIsAddressOrder) {
  const std::vector<std::string> ascending = {
      "::",          "::1",        "::0.0.0.255", "::fffe:ffff:ffff", "0.0.0.0",  "9.255.255.255",
      "10.0.0.0",    "10.0.0.1",   "10.0.1.0",    "255.255.255.255",  "::1:0:0:0", "2001:db8::",
      "2001:db8::1", "fe80::1",    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"};
  for (std::size_t i = 1; i < ascending.size(); ++i) {
    const AddressKey a = *address_key(ascending[i - 1]);
    const AddressKey b = *address_key(ascending[i]);
    EXPECT_LT(std::memcmp(a.data(), b.data(), a.size()), 0) << ascending[i - 1] << " < " << ascending[i];
  }
}

TEST(IpAddress, SockaddrForLibraries) {
  sockaddr_storage storage;
  std::memset(&storage, 0x5a, sizeof storage);
  ASSERT_EQ(ip("::ffff:81.2.69.160").to_sockaddr(storage), sizeof(sockaddr_in));
  const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
  EXPECT_EQ(in->sin_family, AF_INET);
  EXPECT_EQ(in->sin_port, 0);
  EXPECT_EQ(ntohl(in->sin_addr.s_addr), 0x510245a0u);

  std::memset(&storage, 0x5a, sizeof storage);
  ASSERT_EQ(ip("2001:db8::7").to_sockaddr(storage), sizeof(sockaddr_in6));
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  EXPECT_EQ(in6->sin6_family, AF_INET6);
  EXPECT_EQ(in6->sin6_port, 0);
  EXPECT_EQ(in6->sin6_scope_id, 0u);
  in6_addr expected{};
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::7", &expected), 1);
  EXPECT_EQ(std::memcmp(&in6->sin6_addr, &expected, sizeof expected), 0);
}

TEST(Cidr, PrefixesAtTheirBounds) {
  struct Case {
    const char* text;
    bool v4;
    unsigned prefix;
    const char* first;
    const char* last;
  };
  for (const Case& c : std::vector<Case>{
           {"0.0.0.0/0", true, 0, "0.0.0.0", "255.255.255.255"},
           {"192.0.2.1/32", true, 32, "192.0.2.1", "192.0.2.1"},
           {"192.0.2.1", true, 32, "192.0.2.1", "192.0.2.1"},
           {"10.0.0.0/8", true, 8, "10.0.0.0", "10.255.255.255"},
           {"10.0.0.0/08", true, 8, "10.0.0.0", "10.255.255.255"},  // decimal, a leading zero
           {"::/0", false, 0, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
           {"2001:db8::1/128", false, 128, "2001:db8::1", "2001:db8::1"},
           {"2001:db8::/32", false, 32, "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
       }) {
    const CidrText read = read_cidr(c.text);
    ASSERT_TRUE(read.ok()) << c.text;
    EXPECT_EQ(read.block.base.v4, c.v4) << c.text;
    EXPECT_EQ(read.block.prefix, c.prefix) << c.text;
    EXPECT_FALSE(read.block.host_bits_set) << c.text;
    EXPECT_EQ(read.block.first_key(), *address_key(c.first)) << c.text;
    EXPECT_EQ(read.block.last_key(), *address_key(c.last)) << c.text;
    EXPECT_EQ((IpAddress{c.v4, read.block.first()}), ip(c.first)) << c.text;
    EXPECT_EQ((IpAddress{c.v4, read.block.last()}), ip(c.last)) << c.text;
  }
}

TEST(Cidr, BadPrefixesSayTheWidthTheAddressWasWrittenIn) {
  for (const char* text : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x", "10.0.0.0/-0", "10.0.0.0/+8",
                           "10.0.0.0/ 8", "10.0.0.0/8/8", "10.0.0.0/99999999999999999999",
                           "::ffff:10.0.0.0/129"}) {
    const CidrText read = read_cidr(text);
    EXPECT_EQ(read.status, CidrText::Status::bad_prefix) << text;
  }
  EXPECT_EQ(read_cidr("10.0.0.0/33").max_prefix, 32u);
  EXPECT_EQ(read_cidr("10.0.0.0/33").prefix_text, "33");
  EXPECT_EQ(read_cidr("fd00::/129").max_prefix, 128u);
  // A mapped address counts in IPv6 bits, as written.
  EXPECT_EQ(read_cidr("::ffff:10.0.0.0/33").status, CidrText::Status::ok);
  EXPECT_EQ(read_cidr("::ffff:10.0.0.0/129").max_prefix, 128u);
}

TEST(Cidr, BadAddressesAreNamed) {
  for (const char* text : {"nonsense/8", "host.example/24", "fe80::%eth0/64", "/8", "", "10.0.0/8",
                           "10.0.0.300"}) {
    const CidrText read = read_cidr(text);
    EXPECT_EQ(read.status, CidrText::Status::bad_address) << text;
  }
  EXPECT_EQ(read_cidr("host.example/24").address_text, "host.example");
  EXPECT_EQ(read_cidr("10.0.0.300").address_text, "10.0.0.300");
}

TEST(Cidr, HostBitsAreClearedAndReported) {
  const CidrText v4 = read_cidr("10.0.0.1/8");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4.block.host_bits_set);
  EXPECT_EQ(v4.block.to_string(), "10.0.0.0/8");
  const CidrText v6 = read_cidr("fd00::1/8");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6.block.host_bits_set);
  EXPECT_EQ(v6.block.to_string(), "fd00::/8");
  EXPECT_TRUE(read_cidr("0.0.0.1/0").block.host_bits_set);
  EXPECT_TRUE(read_cidr("::1/127").block.host_bits_set);
  EXPECT_FALSE(read_cidr("10.0.0.0/8").block.host_bits_set);
  EXPECT_FALSE(read_cidr("10.0.0.1/32").block.host_bits_set);
  EXPECT_FALSE(read_cidr("::1/128").block.host_bits_set);
}

TEST(Cidr, MappedBlocksAreTheIpv4BlocksTheyMap) {
  const CidrText mapped = read_cidr("::ffff:10.0.0.0/104");
  ASSERT_TRUE(mapped.ok());
  EXPECT_TRUE(mapped.block.base.v4);
  EXPECT_EQ(mapped.block.to_string(), "10.0.0.0/8");
  EXPECT_EQ(mapped.block.first_key(), read_cidr("10.0.0.0/8").block.first_key());
  EXPECT_EQ(mapped.block.last_key(), read_cidr("10.0.0.0/8").block.last_key());
  EXPECT_EQ(read_cidr("::ffff:0.0.0.0/96").block.to_string(), "0.0.0.0/0");
  EXPECT_EQ(read_cidr("::ffff:10.1.2.3").block.to_string(), "10.1.2.3/32");
  // Shorter than the mapped space: an IPv6 block (with host bits, here).
  const CidrText wide = read_cidr("::ffff:0.0.0.0/95");
  ASSERT_TRUE(wide.ok());
  EXPECT_FALSE(wide.block.base.v4);
  EXPECT_TRUE(wide.block.host_bits_set);
  EXPECT_TRUE(read_cidr("::ffff:0.0.0.0/80").block.host_bits_set);
  EXPECT_EQ(read_cidr("::ffff:0.0.0.0/80").block.to_string(), "::/80");
  EXPECT_FALSE(read_cidr("::ffff:0.0.0.0/80").block.base.v4);
}

}  // namespace
}  // namespace authpolicy
