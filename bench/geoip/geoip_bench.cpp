// Cost of one rhost.country / rhost.asn lookup in process, on a database of 100,000 networks.
#include <benchmark/benchmark.h>
#include <maxminddb.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/geoip/geoip.h"

extern char** environ;

namespace {

using authpolicy::GeoIpDatabase;
using authpolicy::GeoIpSettings;
using authpolicy::GeoLayout;
using authpolicy::GeoLookup;

// write_mmdb.pl --generate 50000 in an IPv6 tree: 50,000 IPv4 /24 and 50,000 IPv6 /48 networks.
constexpr int kGeneratedPerFamily = 50000;
constexpr std::size_t kAddressCount = 4096;

std::string g_database_path;

bool newer_than(const std::string& path, const std::string& than) {
  struct stat a {
  }, b{};
  return ::stat(path.c_str(), &a) == 0 && ::stat(than.c_str(), &b) == 0 &&
         a.st_mtim.tv_sec >= b.st_mtim.tv_sec;
}

// The database: AP_GEOIP_BENCH_DB if set, else written once next to the benchmark binary.
bool prepare_database() {
  if (const char* given = std::getenv("AP_GEOIP_BENCH_DB"); given != nullptr && *given != '\0') {
    g_database_path = given;
    return true;
  }
  g_database_path = AP_GEOIP_BENCH_DB_CACHE;
  if (newer_than(g_database_path, AP_GEOIP_WRITER)) return true;
  std::fprintf(stderr, "writing %s with write_mmdb.pl (about 10 s, once)\n",
               g_database_path.c_str());
  std::string count = std::to_string(kGeneratedPerFamily);
  std::string partial = g_database_path + ".partial";
  std::vector<const char*> argv = {"perl",
                                   AP_GEOIP_WRITER,
                                   "--ip-version",
                                   "6",
                                   "--generate",
                                   count.c_str(),
                                   "--out",
                                   partial.c_str(),
                                   "--database-type",
                                   "GeoLite2-Country",
                                   nullptr};
  pid_t pid = -1;
  if (posix_spawnp(&pid, "perl", nullptr, nullptr, const_cast<char**>(argv.data()), environ) != 0) {
    std::fprintf(stderr, "cannot run perl (Debian packages perl, libmaxmind-db-writer-perl)\n");
    return false;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "write_mmdb.pl failed (is libmaxmind-db-writer-perl installed?)\n");
    return false;
  }
  return std::rename(partial.c_str(), g_database_path.c_str()) == 0;
}

// Addresses inside generated networks (same formulas as write_mmdb.pl), so every lookup walks
// the tree to a record.
std::vector<std::string> ipv4_hits() {
  std::vector<std::string> addresses;
  for (std::size_t i = 0; i < kAddressCount; ++i) {
    std::uint64_t n = (i * 12289) % kGeneratedPerFamily;
    std::uint64_t block = (n * 2654435761ULL) % (1ULL << 24);
    addresses.push_back(std::to_string((block >> 16) & 255) + "." +
                        std::to_string((block >> 8) & 255) + "." + std::to_string(block & 255) +
                        "." + std::to_string(1 + i % 250));
  }
  return addresses;
}

std::vector<std::string> ipv6_hits() {
  std::vector<std::string> addresses;
  char text[64];
  for (std::size_t i = 0; i < kAddressCount; ++i) {
    std::uint64_t n = (i * 12289) % kGeneratedPerFamily;
    std::uint64_t block = (n * 2246822519ULL) % (1ULL << 32);
    std::snprintf(text, sizeof text, "2a00:%x:%x:%zx::1",
                  static_cast<unsigned>((block >> 16) & 0xffff),
                  static_cast<unsigned>(block & 0xffff), i & 0xffff);
    addresses.push_back(text);
  }
  return addresses;
}

std::vector<std::string> mapped(const std::vector<std::string>& ipv4) {
  std::vector<std::string> addresses;
  for (const std::string& address : ipv4) addresses.push_back("::ffff:" + address);
  return addresses;
}

std::shared_ptr<const GeoIpDatabase> open_database(benchmark::State& state) {
  std::string error;
  auto database = GeoIpDatabase::open(g_database_path, GeoLayout::automatic, &error);
  if (!database) state.SkipWithError(error.c_str());
  return database;
}

template <GeoLookup (GeoIpDatabase::*Subject)(std::string_view) const>
void run_lookups(benchmark::State& state, const std::vector<std::string>& addresses) {
  auto database = open_database(state);
  if (!database) return;
  std::size_t i = 0;
  std::size_t values = 0;
  for (auto _ : state) {
    GeoLookup lookup = ((*database).*Subject)(addresses[i++ % addresses.size()]);
    values += lookup.kind == GeoLookup::value;
    benchmark::DoNotOptimize(lookup);
  }
  if (values != static_cast<std::size_t>(state.iterations())) {
    state.SkipWithError("a generated address had no value");
  }
}

void BM_CountryIpv4(benchmark::State& state) {
  run_lookups<&GeoIpDatabase::country>(state, ipv4_hits());
}
void BM_CountryIpv6(benchmark::State& state) {
  run_lookups<&GeoIpDatabase::country>(state, ipv6_hits());
}
void BM_CountryIpv4Mapped(benchmark::State& state) {
  run_lookups<&GeoIpDatabase::country>(state, mapped(ipv4_hits()));
}
void BM_AsnIpv4(benchmark::State& state) {
  run_lookups<&GeoIpDatabase::asn>(state, ipv4_hits());
}
void BM_AsnIpv6(benchmark::State& state) {
  run_lookups<&GeoIpDatabase::asn>(state, ipv6_hits());
}

// The same 16 addresses over and over: the tree path stays in the CPU cache, so this is the
// wrapper's own cost (parse, walk, decode) without memory misses.
void BM_CountryIpv4Hot(benchmark::State& state) {
  std::vector<std::string> addresses = ipv4_hits();
  addresses.resize(16);
  run_lookups<&GeoIpDatabase::country>(state, addresses);
}
void BM_CountryIpv6Hot(benchmark::State& state) {
  std::vector<std::string> addresses = ipv6_hits();
  addresses.resize(16);
  run_lookups<&GeoIpDatabase::country>(state, addresses);
}

void BM_CountryNoRecord(benchmark::State& state) {
  auto database = open_database(state);
  if (!database) return;
  for (auto _ : state) benchmark::DoNotOptimize(database->country("2001:db8::1"));
}

void BM_HostNameRejected(benchmark::State& state) {
  auto database = open_database(state);
  if (!database) return;
  for (auto _ : state) benchmark::DoNotOptimize(database->country("gateway.example.net"));
}

// What the evaluator pays per decision: the cache (stat + mutex) plus the lookup.
void BM_CountryThroughCache(benchmark::State& state) {
  GeoIpSettings settings;
  settings.country_path = g_database_path;
  std::vector<std::string> addresses = ipv4_hits();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        authpolicy::lookup_country(settings, addresses[i++ % addresses.size()]));
  }
}

// The peer: libmaxminddb used directly (MMDB_lookup_string + MMDB_get_value), no wrapper.
void BM_PeerLibmaxminddbIpv4(benchmark::State& state) {
  MMDB_s mmdb;
  if (MMDB_open(g_database_path.c_str(), MMDB_MODE_MMAP, &mmdb) != MMDB_SUCCESS) {
    state.SkipWithError("MMDB_open failed");
    return;
  }
  std::vector<std::string> addresses = ipv4_hits();
  std::size_t i = 0;
  for (auto _ : state) {
    int gai_error = 0;
    int mmdb_error = 0;
    MMDB_lookup_result_s result = MMDB_lookup_string(
        &mmdb, addresses[i++ % addresses.size()].c_str(), &gai_error, &mmdb_error);
    MMDB_entry_data_s data{};
    MMDB_get_value(&result.entry, &data, "country", "iso_code", nullptr);
    benchmark::DoNotOptimize(data);
  }
  MMDB_close(&mmdb);
}

void BM_OpenDatabase(benchmark::State& state) {
  for (auto _ : state) {
    std::string error;
    benchmark::DoNotOptimize(GeoIpDatabase::open(g_database_path, GeoLayout::automatic, &error));
  }
}

BENCHMARK(BM_CountryIpv4);
BENCHMARK(BM_CountryIpv6);
BENCHMARK(BM_CountryIpv4Mapped);
BENCHMARK(BM_AsnIpv4);
BENCHMARK(BM_AsnIpv6);
BENCHMARK(BM_CountryIpv4Hot);
BENCHMARK(BM_CountryIpv6Hot);
BENCHMARK(BM_CountryNoRecord);
BENCHMARK(BM_HostNameRejected);
BENCHMARK(BM_CountryThroughCache);
BENCHMARK(BM_PeerLibmaxminddbIpv4);
BENCHMARK(BM_OpenDatabase)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!prepare_database()) return 1;
  std::fprintf(stderr, "database: %s\n", g_database_path.c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
