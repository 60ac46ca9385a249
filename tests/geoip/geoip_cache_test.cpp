// The process-wide cache: one open and one mapping per file, failures reported once, reopen on
// change.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "engine/geoip/geoip.h"
#include "tests/geoip/test_support.h"

namespace authpolicy {
namespace {

using geoip_test::GeoIpFilesTest;
using geoip_test::make_temp_dir;

// How many distinct mappings of `path` /proc/self/maps lists (one per MMDB_open).
int mappings_of(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::map<std::string, int> starts;
  while (std::getline(maps, line)) {
    if (line.size() > path.size() &&
        line.compare(line.size() - path.size(), path.size(), path) == 0 &&
        line[line.size() - path.size() - 1] == ' ') {
      starts[line.substr(0, line.find('-'))] = 1;
    }
  }
  return static_cast<int>(starts.size());
}

class GeoIpCacheTest : public GeoIpFilesTest {
 protected:
  void SetUp() override {
    GeoIpFilesTest::SetUp();
    geoip_cache_clear();
    // Files are replaced within milliseconds here; look at them on every call.
    geoip_cache_set_recheck_interval(std::chrono::nanoseconds(0));
    work_ = make_temp_dir();
  }
  void TearDown() override {
    geoip_cache_set_recheck_interval(std::chrono::seconds(1));
    geoip_cache_clear();
  }

  // Copies a test database to `name` in this test's folder via a rename, as geoipupdate does.
  std::string install(const std::string& file, const std::string& name) {
    std::string target = work_ + "/" + name;
    std::string staging = target + ".tmp";
    std::filesystem::copy_file(db(file), staging,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::rename(staging, target);
    return target;
  }

  std::string work_;
};

TEST_F(GeoIpCacheTest, OpensEachFileOncePerProcess) {
  std::string path = install("country-v6.mmdb", "GeoLite2-Country.mmdb");
  std::uint64_t before = geoip_cache_open_count();
  std::string error;
  auto first = geoip_database(path, GeoLayout::automatic, &error);
  ASSERT_TRUE(first) << error;
  for (int i = 0; i < 100; ++i) {
    auto again = geoip_database(path, GeoLayout::automatic, &error);
    EXPECT_EQ(again.get(), first.get());
  }
  EXPECT_EQ(geoip_cache_open_count() - before, 1u);
  EXPECT_EQ(mappings_of(path), 1);

  GeoIpSettings settings;
  settings.country_path = path;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(lookup_country(settings, "81.2.69.1").text, "GB");
  }
  EXPECT_EQ(geoip_cache_open_count() - before, 1u);
  EXPECT_EQ(mappings_of(path), 1);
}

TEST_F(GeoIpCacheTest, ConcurrentFirstUseOpensOnce) {
  std::string path = install("country-v6.mmdb", "shared.mmdb");
  std::uint64_t before = geoip_cache_open_count();
  GeoIpSettings settings;
  settings.country_path = path;
  std::vector<std::thread> threads;
  std::vector<int> wrong(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if (lookup_country(settings, "2001:db8::1").text != "JP") ++wrong[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong, std::vector<int>(8, 0));
  EXPECT_EQ(geoip_cache_open_count() - before, 1u);
  EXPECT_EQ(mappings_of(path), 1);
}

TEST_F(GeoIpCacheTest, OneFileServesCountryAndAsnWithOneOpen) {
  std::string path = install("flat.mmdb", "both.mmdb");
  GeoIpSettings settings;
  settings.country_path = path;
  settings.asn_path = path;
  std::uint64_t before = geoip_cache_open_count();
  EXPECT_EQ(lookup_country(settings, "81.2.69.1").text, "GB");
  EXPECT_EQ(lookup_asn(settings, "81.2.69.1").text, "20712");
  EXPECT_EQ(geoip_cache_open_count() - before, 1u);
  EXPECT_EQ(mappings_of(path), 1);
}

TEST_F(GeoIpCacheTest, FirstFailureIsReportedOnce) {
  std::string path = work_ + "/GeoLite2-Country.mmdb";  // not there
  GeoIpSettings settings;
  settings.country_path = path;
  std::vector<std::string> logged;
  GeoFailureLog log = [&](const std::string& file, const std::string& cause) {
    logged.push_back(file + " | " + cause);
  };
  std::uint64_t before = geoip_cache_open_count();
  for (int i = 0; i < 20; ++i) {
    GeoLookup lookup = lookup_country(settings, "81.2.69.1", log);
    EXPECT_EQ(lookup.kind, GeoLookup::unknown);
    EXPECT_NE(lookup.cause.find("No such file or directory"), std::string::npos) << lookup.cause;
  }
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find(path), std::string::npos);
  // The failure is remembered: one attempt, not twenty.
  EXPECT_EQ(geoip_cache_open_count() - before, 1u);

  bool first_failure = true;
  std::string error;
  EXPECT_FALSE(geoip_database(path, GeoLayout::automatic, &error, &first_failure));
  EXPECT_FALSE(first_failure);
  EXPECT_NE(error.find("No such file"), std::string::npos);
}

TEST_F(GeoIpCacheTest, BrokenFileReplacedByAGoodOneIsPickedUp) {
  std::string path = install("truncated.mmdb", "GeoLite2-Country.mmdb");
  GeoIpSettings settings;
  settings.country_path = path;
  int logged = 0;
  GeoFailureLog log = [&](const std::string&, const std::string&) { ++logged; };
  EXPECT_EQ(lookup_country(settings, "81.2.69.1", log).kind, GeoLookup::unknown);
  EXPECT_EQ(lookup_country(settings, "81.2.69.1", log).kind, GeoLookup::unknown);
  EXPECT_EQ(logged, 1);

  install("country-v6.mmdb", "GeoLite2-Country.mmdb");
  GeoLookup fixed = lookup_country(settings, "81.2.69.1", log);
  EXPECT_EQ(fixed.kind, GeoLookup::value);
  EXPECT_EQ(fixed.text, "GB");
  EXPECT_EQ(logged, 1);
}

TEST_F(GeoIpCacheTest, ReplacedDatabaseIsReopenedAndOldHoldersKeepTheirs) {
  std::string path = install("country-v6.mmdb", "GeoLite2-Country.mmdb");
  std::string error;
  auto old_database = geoip_database(path, GeoLayout::automatic, &error);
  ASSERT_TRUE(old_database) << error;
  std::uint64_t before = geoip_cache_open_count();

  install("flat.mmdb", "GeoLite2-Country.mmdb");  // a new inode at the same path
  auto new_database = geoip_database(path, GeoLayout::automatic, &error);
  ASSERT_TRUE(new_database) << error;
  EXPECT_NE(new_database.get(), old_database.get());
  EXPECT_EQ(geoip_cache_open_count() - before, 1u);
  EXPECT_EQ(new_database->info().layout, GeoLayout::flat);
  EXPECT_EQ(new_database->country("10.0.0.1").text, "DE");
  // A decision in flight keeps answering from the file it started with.
  EXPECT_EQ(old_database->country("10.0.0.1").text, "DE");
  EXPECT_EQ(old_database->country("192.168.0.1").text, "FR");
  EXPECT_EQ(new_database->country("192.168.0.1").kind, GeoLookup::no_value);
}

TEST_F(GeoIpCacheTest, GoodFileThatDisappearsIsUnknownAndLoggedOnce) {
  std::string path = install("country-v6.mmdb", "GeoLite2-Country.mmdb");
  GeoIpSettings settings;
  settings.country_path = path;
  int logged = 0;
  GeoFailureLog log = [&](const std::string&, const std::string&) { ++logged; };
  EXPECT_EQ(lookup_country(settings, "81.2.69.1", log).text, "GB");
  std::filesystem::remove(path);
  EXPECT_EQ(lookup_country(settings, "81.2.69.1", log).kind, GeoLookup::unknown);
  EXPECT_EQ(lookup_country(settings, "81.2.69.1", log).kind, GeoLookup::unknown);
  EXPECT_EQ(logged, 1);
}

TEST_F(GeoIpCacheTest, SameBrokenStateAfterAChangeIsNotLoggedAgain) {
  std::string path = install("garbage.mmdb", "GeoLite2-Country.mmdb");
  bool first_failure = false;
  std::string error;
  EXPECT_FALSE(geoip_database(path, GeoLayout::automatic, &error, &first_failure));
  EXPECT_TRUE(first_failure);
  // Changed (a new inode), still no metadata: the same cause, so nothing new to log.
  install("truncated.mmdb", "GeoLite2-Country.mmdb");
  EXPECT_FALSE(geoip_database(path, GeoLayout::automatic, &error, &first_failure));
  EXPECT_FALSE(first_failure);
  // A different failure is news.
  install("empty.mmdb", "GeoLite2-Country.mmdb");
  EXPECT_FALSE(geoip_database(path, GeoLayout::automatic, &error, &first_failure));
  EXPECT_TRUE(first_failure);
  EXPECT_NE(error.find("empty file"), std::string::npos) << error;
}

TEST_F(GeoIpCacheTest, LayoutsAreCachedSeparately) {
  std::string path = install("flat.mmdb", "flat.mmdb");
  std::string error;
  auto automatic = geoip_database(path, GeoLayout::automatic, &error);
  auto geoip2 = geoip_database(path, GeoLayout::geoip2, &error);
  ASSERT_TRUE(automatic);
  ASSERT_TRUE(geoip2);
  EXPECT_NE(automatic.get(), geoip2.get());
  EXPECT_EQ(automatic->country("81.2.69.1").text, "GB");
  EXPECT_EQ(geoip2->country("81.2.69.1").kind, GeoLookup::unknown);
}

TEST_F(GeoIpCacheTest, WithinTheRecheckIntervalTheFileIsNotLookedAt) {
  geoip_cache_set_recheck_interval(std::chrono::hours(1));
  std::string path = install("country-v6.mmdb", "GeoLite2-Country.mmdb");
  GeoIpSettings settings;
  settings.country_path = path;
  EXPECT_EQ(lookup_country(settings, "192.168.0.1").text, "FR");
  install("flat.mmdb", "GeoLite2-Country.mmdb");
  EXPECT_EQ(lookup_country(settings, "192.168.0.1").text, "FR");  // still the first file
  geoip_cache_set_recheck_interval(std::chrono::nanoseconds(0));
  EXPECT_EQ(lookup_country(settings, "192.168.0.1").kind, GeoLookup::no_value);  // the new one
}

TEST_F(GeoIpCacheTest, HostNameIsUnknownThroughTheCacheToo) {
  GeoIpSettings settings;
  settings.country_path = install("country-v6.mmdb", "c.mmdb");
  settings.asn_path = install("asn.mmdb", "a.mmdb");
  EXPECT_EQ(lookup_country(settings, "gateway.example.net").cause, "not an IP address");
  EXPECT_EQ(lookup_asn(settings, "gateway.example.net").cause, "not an IP address");
}

}  // namespace
}  // namespace authpolicy
