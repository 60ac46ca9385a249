// Cross-checks with an independent reader (mmdblookup from mmdb-bin), and proof of no resolver use.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "engine/geoip/geoip.h"
#include "tests/geoip/test_support.h"

namespace authpolicy {
namespace {

using geoip_test::find_program;
using geoip_test::GeoIpFilesTest;
using geoip_test::ProgramResult;
using geoip_test::run_program;

// mmdblookup's answer for one path: the string or number it prints, "" when it found no entry
// or no data at that path.
class MmdbLookupPeer {
 public:
  explicit MmdbLookupPeer(std::string program) : program_(std::move(program)) {}

  std::string value(const std::string& file, const std::string& address,
                    const std::vector<std::string>& path) const {
    std::vector<std::string> argv = {program_, "--file", file, "--ip", address};
    argv.insert(argv.end(), path.begin(), path.end());
    ProgramResult result = run_program(argv);
    std::smatch match;
    static const std::regex text(R"re("([^"]*)" <utf8_string>)re");
    static const std::regex number(R"re((\d+) <uint\d+>)re");
    if (std::regex_search(result.out, match, text)) return match[1];
    if (std::regex_search(result.out, match, number)) return match[1];
    return "";
  }

 private:
  std::string program_;
};

// Our answer in mmdblookup's terms: the value, or "" for no value.
std::string ours(const GeoLookup& lookup) {
  return lookup.kind == GeoLookup::value ? lookup.text : "";
}

class GeoIpPeerTest : public GeoIpFilesTest {
 protected:
  void SetUp() override {
    GeoIpFilesTest::SetUp();
    std::optional<std::string> program = find_program("mmdblookup");
    ASSERT_TRUE(program) << "mmdblookup is not installed (Debian package mmdb-bin); it is the "
                            "independent reader these tests compare against";
    peer_ = std::make_unique<MmdbLookupPeer>(*program);
  }

  std::unique_ptr<MmdbLookupPeer> peer_;
};

TEST_F(GeoIpPeerTest, CountryAgreesWithMmdblookup) {
  std::string file = db("country-v6.mmdb");
  std::string error;
  auto database = GeoIpDatabase::open(file, GeoLayout::geoip2, &error);
  ASSERT_TRUE(database) << error;
  // Addresses with country.iso_code (mmdblookup has no fallback, so registered_country-only
  // networks are compared separately below). Mapped addresses work in mmdblookup through the
  // writer's ::ffff:0:0/96 alias.
  for (const char* address :
       {"81.2.69.160", "10.9.8.7", "192.168.200.1", "175.45.176.1", "2001:db8::1", "2a02:c7f::9",
        "fd99::1", "::ffff:81.2.69.1", "8.8.8.8", "2001:db9::1", "198.51.100.1"}) {
    EXPECT_EQ(ours(database->country(address)),
              peer_->value(file, address, {"country", "iso_code"}))
        << address;
  }
  for (const char* address : {"203.0.113.1", "2a0e:1000::1"}) {
    EXPECT_EQ(ours(database->country(address)),
              peer_->value(file, address, {"registered_country", "iso_code"}))
        << address;
  }
}

TEST_F(GeoIpPeerTest, AsnAgreesWithMmdblookup) {
  std::string file = db("asn.mmdb");
  std::string error;
  auto database = GeoIpDatabase::open(file, GeoLayout::automatic, &error);
  ASSERT_TRUE(database) << error;
  for (const char* address : {"8.8.8.8", "81.2.69.1", "10.0.0.1", "2001:4860::1", "fd00::1",
                              "::ffff:8.8.8.8", "1.1.1.1", "198.51.100.1"}) {
    EXPECT_EQ(ours(database->asn(address)),
              peer_->value(file, address, {"autonomous_system_number"}))
        << address;
  }
}

TEST_F(GeoIpPeerTest, FlatCountryAgreesWithMmdblookup) {
  std::string file = db("flat.mmdb");
  std::string error;
  auto database = GeoIpDatabase::open(file, GeoLayout::automatic, &error);
  ASSERT_TRUE(database) << error;
  for (const char* address : {"81.2.69.1", "10.1.1.1", "2001:db8::2", "198.51.100.1", "9.9.9.9"}) {
    EXPECT_EQ(ours(database->country(address)), peer_->value(file, address, {"country_code"}))
        << address;
  }
}

TEST_F(GeoIpPeerTest, MappedAddressWithoutAliasDiffersOnlyInThePeer) {
  // The peer looks ::ffff:81.2.69.1 up literally and finds nothing in a file written without
  // the alias; the component looks up 81.2.69.1, as docs/geoip.md says.
  std::string file = db("country-v6-noalias.mmdb");
  std::string error;
  auto database = GeoIpDatabase::open(file, GeoLayout::automatic, &error);
  ASSERT_TRUE(database) << error;
  EXPECT_EQ(peer_->value(file, "::ffff:81.2.69.1", {"country", "iso_code"}), "");
  EXPECT_EQ(peer_->value(file, "81.2.69.1", {"country", "iso_code"}), "GB");
  EXPECT_EQ(ours(database->country("::ffff:81.2.69.1")), "GB");
}

TEST(GeoIpNoDns, LibraryReferencesNoResolver) {
  // The component parses addresses with inet_pton only. MMDB_lookup_string would call
  // getaddrinfo (numeric-only, but it accepts "127.1"); make sure nothing of the kind is linked.
  std::optional<std::string> nm = find_program("nm");
  ASSERT_TRUE(nm) << "nm is not installed (Debian package binutils)";
  ProgramResult symbols = run_program({*nm, "--undefined-only", AP_GEOIP_LIBRARY});
  ASSERT_EQ(symbols.exit_code, 0) << symbols.err;
  ASSERT_NE(symbols.out.find("MMDB_lookup_sockaddr"), std::string::npos) << symbols.out;
  for (const char* resolver : {"getaddrinfo", "gethostbyname", "gethostbyaddr", "getnameinfo",
                               "res_query", "res_search", "MMDB_lookup_string"}) {
    EXPECT_EQ(symbols.out.find(resolver), std::string::npos) << resolver;
  }
}

}  // namespace
}  // namespace authpolicy
