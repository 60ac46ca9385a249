// Country and ASN answers from real .mmdb files: IPv4, IPv6, mapped addresses, layouts, no value.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "engine/geoip/geoip.h"
#include "tests/geoip/test_support.h"

namespace authpolicy {
namespace {

using geoip_test::GeoIpFilesTest;

std::string describe(const GeoLookup& lookup) {
  switch (lookup.kind) {
    case GeoLookup::value:
      return "value " + lookup.text;
    case GeoLookup::no_value:
      return "no value";
    case GeoLookup::unknown:
      return "unknown: " + lookup.cause;
  }
  return "?";
}

::testing::AssertionResult IsValue(const GeoLookup& lookup, const std::string& expected) {
  if (lookup.kind == GeoLookup::value && lookup.text == expected && lookup.cause.empty()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected value " << expected << ", got " << describe(lookup);
}

::testing::AssertionResult IsNoValue(const GeoLookup& lookup) {
  if (lookup.kind == GeoLookup::no_value && lookup.text.empty()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected no value, got " << describe(lookup);
}

::testing::AssertionResult IsUnknownWith(const GeoLookup& lookup, const std::string& cause_part) {
  if (lookup.kind == GeoLookup::unknown && lookup.cause.find(cause_part) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected unknown containing '" << cause_part << "', got " << describe(lookup);
}

class GeoIpLookupTest : public GeoIpFilesTest {
 protected:
  std::shared_ptr<const GeoIpDatabase> open(const std::string& file,
                                            GeoLayout layout = GeoLayout::automatic) {
    std::string error;
    auto database = GeoIpDatabase::open(db(file), layout, &error);
    EXPECT_TRUE(database) << error;
    return database;
  }
};

TEST_F(GeoIpLookupTest, CountryOfIpv4Addresses) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsValue(database->country("81.2.69.160"), "GB"));
  EXPECT_TRUE(IsValue(database->country("81.2.69.0"), "GB"));
  EXPECT_TRUE(IsValue(database->country("81.2.69.255"), "GB"));
  EXPECT_TRUE(IsValue(database->country("175.45.178.1"), "KP"));
  EXPECT_TRUE(IsNoValue(database->country("81.2.70.1")));
}

TEST_F(GeoIpLookupTest, CountryOfIpv6Addresses) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsValue(database->country("2001:db8::1"), "JP"));
  EXPECT_TRUE(IsValue(database->country("2001:DB8:FFFF:ffff:ffff:ffff:ffff:ffff"), "JP"));
  EXPECT_TRUE(IsValue(database->country("2a02:c7f:1234::5"), "GB"));
  EXPECT_TRUE(IsNoValue(database->country("2001:db9::1")));
  EXPECT_TRUE(IsNoValue(database->country("::1")));
}

TEST_F(GeoIpLookupTest, Ipv4MappedIpv6IsLookedUpAsIpv4) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsValue(database->country("::ffff:81.2.69.160"), "GB"));
  EXPECT_TRUE(IsValue(database->country("::FFFF:10.1.2.3"), "DE"));
  EXPECT_TRUE(IsValue(database->country("::ffff:5102:45a0"), "GB"));  // 81.2.69.160 in hex
  EXPECT_TRUE(IsNoValue(database->country("::ffff:81.2.70.1")));
}

TEST_F(GeoIpLookupTest, Ipv4MappedIpv6WorksWithoutTheWritersAlias) {
  // Without alias_ipv6_to_ipv4 the ::ffff:0:0/96 subtree of the file is empty (mmdblookup finds
  // nothing there); the component still answers because it converts the address first.
  auto database = open("country-v6-noalias.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsValue(database->country("::ffff:81.2.69.160"), "GB"));
  EXPECT_TRUE(IsValue(database->country("81.2.69.160"), "GB"));
  EXPECT_TRUE(IsValue(database->country("2001:db8::1"), "JP"));
}

TEST_F(GeoIpLookupTest, Ipv4OnlyDatabaseAnswersMappedButNotIpv6) {
  auto database = open("country-v4.mmdb");
  ASSERT_TRUE(database);
  EXPECT_EQ(database->info().ip_version, 4);
  EXPECT_TRUE(IsValue(database->country("81.2.69.1"), "GB"));
  EXPECT_TRUE(IsValue(database->country("::ffff:81.2.69.1"), "GB"));
  EXPECT_TRUE(IsNoValue(database->country("::ffff:1.1.1.1")));
  EXPECT_TRUE(IsUnknownWith(database->country("2001:db8::1"), "IPv4-only"));
  EXPECT_TRUE(IsUnknownWith(database->country("2001:db8::1"), db("country-v4.mmdb")));
}

TEST_F(GeoIpLookupTest, PrivateRangesArePresentWhenWritten) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsValue(database->country("10.0.0.1"), "DE"));
  EXPECT_TRUE(IsValue(database->country("10.255.255.254"), "DE"));
  EXPECT_TRUE(IsValue(database->country("192.168.1.20"), "FR"));
  EXPECT_TRUE(IsValue(database->country("fd12:3456::1"), "NL"));
  EXPECT_TRUE(IsNoValue(database->country("172.16.0.1")));
}

TEST_F(GeoIpLookupTest, AddressWithoutRecordIsNoValueNotUnknown) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsNoValue(database->country("8.8.8.8")));
  EXPECT_TRUE(IsNoValue(database->country("0.0.0.0")));
  EXPECT_TRUE(IsNoValue(database->country("255.255.255.255")));
  // A record that exists but holds no country (only a continent) is no value as well.
  EXPECT_TRUE(IsNoValue(database->country("198.51.100.7")));
}

TEST_F(GeoIpLookupTest, RegisteredCountryIsTheFallback) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsValue(database->country("203.0.113.9"), "AU"));
  EXPECT_TRUE(IsValue(database->country("2a0e:1000::1"), "CH"));
  // country wins over registered_country when both are there.
  EXPECT_TRUE(IsValue(database->country("81.2.69.1"), "GB"));
}

TEST_F(GeoIpLookupTest, CountryCodeIsUpperCased) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsValue(database->country("100.64.1.1"), "SE"));
}

TEST_F(GeoIpLookupTest, ZoneOfLinkLocalAddressIsIgnored) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsValue(database->country("2001:db8::1%eth0"), "JP"));
  EXPECT_TRUE(IsNoValue(database->country("fe80::1%eth0")));
}

TEST_F(GeoIpLookupTest, AsnOfIpv4Ipv6AndMappedAddresses) {
  auto database = open("asn.mmdb");
  ASSERT_TRUE(database);
  GeoLookup google = database->asn("8.8.8.8");
  EXPECT_TRUE(IsValue(google, "15169"));
  EXPECT_EQ(google.asn, 15169u);
  EXPECT_TRUE(IsValue(database->asn("2001:4860:4860::8888"), "15169"));
  EXPECT_TRUE(IsValue(database->asn("::ffff:8.8.8.4"), "15169"));
  EXPECT_TRUE(IsValue(database->asn("10.20.30.40"), "64512"));
  GeoLookup wide = database->asn("fd00::1");
  EXPECT_TRUE(IsValue(wide, "4200000000"));
  EXPECT_EQ(wide.asn, 4200000000u);
  EXPECT_TRUE(IsNoValue(database->asn("1.1.1.1")));
  EXPECT_TRUE(IsNoValue(database->asn("2a00::1")));
  // A record with an organisation but no number.
  EXPECT_TRUE(IsNoValue(database->asn("198.51.100.1")));
}

TEST_F(GeoIpLookupTest, AsnOnlyDatabaseIsWrongTypeForCountry) {
  auto database = open("asn.mmdb");
  ASSERT_TRUE(database);
  EXPECT_FALSE(database->info().has_country);
  EXPECT_TRUE(database->info().has_asn);
  GeoLookup lookup = database->country("8.8.8.8");
  EXPECT_TRUE(IsUnknownWith(lookup, "holds no country data"));
  EXPECT_TRUE(IsUnknownWith(lookup, "GeoLite2-ASN"));
  // Also for addresses the file has no record for: the file cannot answer the question at all.
  EXPECT_TRUE(IsUnknownWith(database->country("1.1.1.1"), "holds no country data"));
}

TEST_F(GeoIpLookupTest, CountryOnlyDatabaseIsWrongTypeForAsn) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsUnknownWith(database->asn("81.2.69.1"), "holds no ASN data"));
}

TEST_F(GeoIpLookupTest, OtherProductsAreWrongTypeForBoth) {
  for (const char* file : {"anonymous-ip.mmdb", "custom.mmdb"}) {
    auto database = open(file);
    ASSERT_TRUE(database);
    EXPECT_TRUE(IsUnknownWith(database->country("81.2.69.1"), "holds no country data")) << file;
    EXPECT_TRUE(IsUnknownWith(database->asn("81.2.69.1"), "holds no ASN data")) << file;
  }
}

TEST_F(GeoIpLookupTest, EnterpriseLayoutServesCountryAndTraitsAsn) {
  auto database = open("enterprise.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsValue(database->country("81.2.69.1"), "GB"));
  EXPECT_TRUE(IsValue(database->asn("81.2.69.1"), "20712"));
  EXPECT_TRUE(IsValue(database->country("2001:db8::5"), "JP"));
  EXPECT_TRUE(IsNoValue(database->asn("2001:db8::5")));
}

TEST_F(GeoIpLookupTest, FlatLayoutIsDetectedFromRecordShape) {
  auto database = open("flat.mmdb");
  ASSERT_TRUE(database);
  EXPECT_EQ(database->info().layout, GeoLayout::flat);
  EXPECT_TRUE(IsValue(database->country("81.2.69.1"), "GB"));
  EXPECT_TRUE(IsValue(database->country("::ffff:10.0.0.1"), "DE"));
  EXPECT_TRUE(IsValue(database->country("2001:db8::1"), "JP"));
  EXPECT_TRUE(IsNoValue(database->country("198.51.100.1")));  // ASN only
  EXPECT_TRUE(IsNoValue(database->country("8.8.8.8")));
  // One file serves both subjects.
  EXPECT_TRUE(IsValue(database->asn("81.2.69.1"), "20712"));
  EXPECT_TRUE(IsValue(database->asn("198.51.100.1"), "64496"));
  EXPECT_TRUE(IsNoValue(database->asn("2001:db8::1")));
}

TEST_F(GeoIpLookupTest, FlatIpv4OnlyDatabaseLikeIpLocationDb) {
  auto database = open("flat-v4.mmdb");
  ASSERT_TRUE(database);
  EXPECT_EQ(database->info().layout, GeoLayout::flat);
  EXPECT_TRUE(IsValue(database->country("172.20.1.1"), "DE"));
  EXPECT_TRUE(IsValue(database->country("::ffff:81.2.69.3"), "GB"));
  EXPECT_TRUE(IsUnknownWith(database->country("2001:db8::1"), "IPv4-only"));
}

TEST_F(GeoIpLookupTest, ExplicitLayoutIsObeyed) {
  auto flat_as_flat = open("flat.mmdb", GeoLayout::flat);
  ASSERT_TRUE(flat_as_flat);
  EXPECT_TRUE(IsValue(flat_as_flat->country("81.2.69.1"), "GB"));

  // Asked to read a flat file the GeoIP2 way, it has no country data: unknown, not "no value"
  // (which would quietly make `deny if rhost.country in {…}` false for everyone).
  auto flat_as_geoip2 = open("flat.mmdb", GeoLayout::geoip2);
  ASSERT_TRUE(flat_as_geoip2);
  EXPECT_TRUE(IsUnknownWith(flat_as_geoip2->country("81.2.69.1"), "holds no country data"));

  auto geoip2_as_flat = open("country-v6.mmdb", GeoLayout::flat);
  ASSERT_TRUE(geoip2_as_flat);
  EXPECT_TRUE(IsUnknownWith(geoip2_as_flat->country("81.2.69.1"), "no country_code field"));

  auto geoip2_as_geoip2 = open("country-v6.mmdb", GeoLayout::geoip2);
  ASSERT_TRUE(geoip2_as_geoip2);
  EXPECT_TRUE(IsValue(geoip2_as_geoip2->country("81.2.69.1"), "GB"));
}

TEST_F(GeoIpLookupTest, EmptyDatabaseAnswersNoValue) {
  auto database = open("empty-tree.mmdb");
  ASSERT_TRUE(database);
  EXPECT_TRUE(IsNoValue(database->country("81.2.69.1")));
  EXPECT_TRUE(IsNoValue(database->country("2001:db8::1")));
}

TEST_F(GeoIpLookupTest, MalformedRecordsAreUnknown) {
  auto flat = open("malformed-flat.mmdb");
  ASSERT_TRUE(flat);
  EXPECT_TRUE(IsUnknownWith(flat->country("1.0.0.1"), "not a two-letter country code"));
  EXPECT_TRUE(IsUnknownWith(flat->country("2.0.0.1"), "not a two-letter country code"));
  EXPECT_TRUE(IsUnknownWith(flat->asn("2.0.0.1"), "not an AS number"));
  EXPECT_TRUE(IsValue(flat->country("3.0.0.1"), "DE"));

  auto geoip2 = open("malformed-geoip2.mmdb");
  ASSERT_TRUE(geoip2);
  EXPECT_TRUE(IsUnknownWith(geoip2->country("1.0.0.1"), "does not have the expected shape"));
}

TEST_F(GeoIpLookupTest, HostNamesAndGarbageAreNotAnIpAddress) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  const std::vector<std::string> not_addresses = {
      "",
      "localhost",
      "example.com",
      "office.example.org",
      "81.2.69.160.example.com",
      "127.1",         // inet_aton shorthand that getaddrinfo would accept
      "0x7f.0.0.1",    // hex octet
      "2130706433",    // one number
      "010.0.0.1",     // leading zero (octal to some parsers)
      "81.2.69.160 ",  // trailing blank
      " 81.2.69.160",
      "81.2.69.160/24",
      "81.2.69",
      "256.1.1.1",
      "[2001:db8::1]",
      "2001:db8::1%",
      "2001:db8::1%eth0/evil",
      "2001:db8:::1",
      "1:2:3:4:5:6:7:8:9",
      "::ffff:81.2.69.160.1",
      std::string("81.2.69.160\0evil", 16),
      std::string(200, '1'),
  };
  for (const std::string& text : not_addresses) {
    EXPECT_TRUE(IsUnknownWith(database->country(text), "not an IP address")) << "'" << text << "'";
    EXPECT_EQ(database->country(text).cause, "not an IP address");
    EXPECT_TRUE(IsUnknownWith(database->asn(text), "not an IP address")) << "'" << text << "'";
  }
}

TEST_F(GeoIpLookupTest, LayoutNamesOfThePolicy) {
  EXPECT_EQ(geo_layout_from_string("auto"), GeoLayout::automatic);
  EXPECT_EQ(geo_layout_from_string("automatic"), GeoLayout::automatic);
  EXPECT_EQ(geo_layout_from_string("geoip2"), GeoLayout::geoip2);
  EXPECT_EQ(geo_layout_from_string("flat"), GeoLayout::flat);
  EXPECT_EQ(geo_layout_from_string("GeoIP2"), std::nullopt);
  EXPECT_EQ(geo_layout_from_string(""), std::nullopt);
  EXPECT_EQ(to_string(GeoLayout::automatic), "auto");
  GeoIpSettings defaults;
  EXPECT_EQ(defaults.country_path, "/var/lib/GeoIP/GeoLite2-Country.mmdb");
  EXPECT_EQ(defaults.asn_path, "/var/lib/GeoIP/GeoLite2-ASN.mmdb");
  EXPECT_EQ(defaults.layout, GeoLayout::automatic);
}

TEST_F(GeoIpLookupTest, ConcurrentLookupsAgree) {
  auto database = open("country-v6.mmdb");
  ASSERT_TRUE(database);
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (database->country(i % 2 ? "81.2.69.7" : "2001:db8::7").text != (i % 2 ? "GB" : "JP")) {
          ++wrong[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace authpolicy
