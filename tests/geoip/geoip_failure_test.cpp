// Databases that cannot be used: missing, unreadable, truncated, garbage, not a file; and probe().
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/geoip/geoip.h"
#include "tests/geoip/test_support.h"

namespace authpolicy {
namespace {

using geoip_test::GeoIpFilesTest;
using geoip_test::make_temp_dir;

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const char* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
}

// Opening must fail with a cause naming the file and containing `cause_part`.
void ExpectOpenFails(const std::string& path, const std::string& cause_part) {
  std::string error;
  auto database = GeoIpDatabase::open(path, GeoLayout::automatic, &error);
  EXPECT_FALSE(database) << path;
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find(cause_part), std::string::npos) << error;
}

using GeoIpFailureTest = GeoIpFilesTest;

TEST_F(GeoIpFailureTest, MissingDatabaseIsNamedInTheCause) {
  ExpectOpenFails(dir_ + "/no-such-file.mmdb", "No such file or directory");
  ExpectOpenFails("", "no file configured");
}

TEST_F(GeoIpFailureTest, TruncatedDatabaseIsRejected) {
  ExpectOpenFails(db("truncated.mmdb"), "truncated");
}

TEST_F(GeoIpFailureTest, GarbageAndEmptyFilesAreRejected) {
  ExpectOpenFails(db("garbage.mmdb"), "not a MaxMind DB file");
  ExpectOpenFails(db("empty.mmdb"), "not a MaxMind DB file");
}

TEST_F(GeoIpFailureTest, EveryTruncationPointFailsCleanly) {
  // Cut a real database at many lengths: each must be refused (or, were it ever accepted,
  // answer without crashing). Run under ASan this also proves no read past the mapping.
  std::vector<char> whole = read_bytes(db("country-v6.mmdb"));
  ASSERT_GT(whole.size(), 1000u);
  std::string cut = make_temp_dir() + "/cut.mmdb";
  for (std::size_t length = 0; length < whole.size(); length += 37) {
    write_bytes(cut, whole.data(), length);
    std::string error;
    auto database = GeoIpDatabase::open(cut, GeoLayout::automatic, &error);
    if (!database) {
      EXPECT_FALSE(error.empty());
      continue;
    }
    GeoLookup lookup = database->country("81.2.69.1");
    EXPECT_NE(lookup.kind, GeoLookup::value) << "accepted a database cut at " << length;
  }
}

TEST_F(GeoIpFailureTest, CorruptSearchTreeMakesLookupsUnknown) {
  // The search tree sits at the start of the file; overwriting its first nodes with 0xff makes
  // every record point past the file while the metadata at the end stays valid.
  std::vector<char> bytes = read_bytes(db("country-v6.mmdb"));
  std::fill(bytes.begin(), bytes.begin() + 60, static_cast<char>(0xff));
  std::string path = make_temp_dir() + "/corrupt-tree.mmdb";
  write_bytes(path, bytes.data(), bytes.size());
  std::string error;
  auto database = GeoIpDatabase::open(path, GeoLayout::automatic, &error);
  ASSERT_TRUE(database) << error;
  GeoLookup lookup = database->country("81.2.69.1");
  EXPECT_EQ(lookup.kind, GeoLookup::unknown);
  EXPECT_NE(lookup.cause.find("lookup failed"), std::string::npos) << lookup.cause;
  EXPECT_NE(lookup.cause.find(path), std::string::npos) << lookup.cause;
}

TEST_F(GeoIpFailureTest, CorruptDataSectionMakesLookupsUnknownNotValues) {
  // Scribble over the data section (between tree and metadata) of a copy; whatever comes back
  // must be unknown or no value, never a crash.
  std::vector<char> bytes = read_bytes(db("country-v6.mmdb"));
  std::string marker = "\xab\xcd\xefMaxMind.com";
  auto metadata = std::search(bytes.begin(), bytes.end(), marker.begin(), marker.end());
  ASSERT_NE(metadata, bytes.end());
  std::size_t metadata_at = static_cast<std::size_t>(metadata - bytes.begin());
  for (std::size_t i = metadata_at / 2; i < metadata_at; ++i) bytes[i] = static_cast<char>(0xee);
  std::string path = make_temp_dir() + "/corrupt-data.mmdb";
  write_bytes(path, bytes.data(), bytes.size());
  std::string error;
  auto database = GeoIpDatabase::open(path, GeoLayout::automatic, &error);
  if (!database) return;  // refused outright is fine too
  for (const char* address : {"81.2.69.1", "10.0.0.1", "2001:db8::1", "fd00::1", "203.0.113.1"}) {
    GeoLookup country = database->country(address);
    GeoLookup asn = database->asn(address);
    if (country.kind == GeoLookup::value) {
      EXPECT_EQ(country.text.size(), 2u);
    }
    EXPECT_EQ(country.kind == GeoLookup::unknown, !country.cause.empty()) << address;
    EXPECT_EQ(asn.kind == GeoLookup::unknown, !asn.cause.empty()) << address;
  }
}

TEST_F(GeoIpFailureTest, DirectoryAndFifoAreNotOpened) {
  std::string folder = make_temp_dir();
  ExpectOpenFails(folder, "not a regular file");
  // A FIFO would block MMDB_open's open() until a writer comes: it must be refused, not hang.
  std::string fifo = folder + "/fifo.mmdb";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ExpectOpenFails(fifo, "not a regular file");
}

// Opens `path` as the unprivileged user "nobody" in a child process (root reads mode-0 files
// anyway) and returns the error text, or "opened".
std::string open_as_nobody(const std::string& path) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return "pipe failed";
  pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[0]);
    std::string result = "could not drop privileges";
    if (setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0) {
      std::string error;
      auto database = GeoIpDatabase::open(path, GeoLayout::automatic, &error);
      result = database ? "opened" : error;
    }
    ssize_t ignored = write(pipe_fds[1], result.data(), result.size());
    (void)ignored;
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string result;
  char buffer[512];
  ssize_t got;
  while ((got = read(pipe_fds[0], buffer, sizeof buffer)) > 0) result.append(buffer, got);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  return result;
}

TEST_F(GeoIpFailureTest, UnreadableDatabaseIsUnknown) {
  std::string folder = make_temp_dir();
  ASSERT_EQ(chmod(folder.c_str(), 0755), 0);
  std::string path = folder + "/unreadable.mmdb";
  std::filesystem::copy_file(db("country-v6.mmdb"), path);
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  if (geteuid() == 0) {
    std::string error = open_as_nobody(path);
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_NE(error.find("cannot open: Permission denied"), std::string::npos) << error;
    return;
  }
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  ExpectOpenFails(path, "cannot open: Permission denied");
}

TEST_F(GeoIpFailureTest, ThroughTheCacheFailuresAreUnknownWithCause) {
  GeoIpSettings settings;
  settings.country_path = db("truncated.mmdb");
  settings.asn_path = dir_ + "/missing-asn.mmdb";
  GeoLookup country = lookup_country(settings, "81.2.69.1");
  EXPECT_EQ(country.kind, GeoLookup::unknown);
  EXPECT_NE(country.cause.find("truncated"), std::string::npos) << country.cause;
  GeoLookup asn = lookup_asn(settings, "81.2.69.1");
  EXPECT_EQ(asn.kind, GeoLookup::unknown);
  EXPECT_NE(asn.cause.find("missing-asn.mmdb"), std::string::npos) << asn.cause;
}

TEST_F(GeoIpFailureTest, ProbeReportsUnreadableDatabases) {
  GeoProbe missing = GeoIpDatabase::probe(dir_ + "/absent.mmdb");
  EXPECT_FALSE(missing.readable);
  EXPECT_NE(missing.problem.find("absent.mmdb"), std::string::npos) << missing.problem;
  EXPECT_NE(missing.problem.find("No such file"), std::string::npos) << missing.problem;

  GeoProbe truncated = GeoIpDatabase::probe(db("truncated.mmdb"));
  EXPECT_FALSE(truncated.readable);
  EXPECT_NE(truncated.problem.find("truncated"), std::string::npos) << truncated.problem;
}

TEST_F(GeoIpFailureTest, ProbeDescribesAGoodDatabase) {
  GeoProbe report = GeoIpDatabase::probe(db("country-v6.mmdb"), GeoLayout::automatic, true, false);
  ASSERT_TRUE(report.readable) << report.problem;
  EXPECT_EQ(report.info.database_type, "GeoLite2-Country");
  EXPECT_EQ(report.info.layout, GeoLayout::geoip2);
  EXPECT_EQ(report.info.ip_version, 6);
  EXPECT_TRUE(report.info.has_country);
  EXPECT_GT(report.info.build_epoch, 1600000000u);
  EXPECT_GT(report.info.node_count, 0u);
  EXPECT_TRUE(report.warnings.empty()) << report.warnings.front();
}

TEST_F(GeoIpFailureTest, ProbeWarnsAboutWrongTypeAndIpv4Only) {
  GeoProbe asn_for_country = GeoIpDatabase::probe(db("asn.mmdb"), GeoLayout::automatic, true, true);
  ASSERT_TRUE(asn_for_country.readable);
  ASSERT_EQ(asn_for_country.warnings.size(), 1u);
  EXPECT_NE(asn_for_country.warnings[0].find("no country data"), std::string::npos);
  EXPECT_NE(asn_for_country.warnings[0].find("rhost.country will be unknown"), std::string::npos);

  GeoProbe country_for_asn =
      GeoIpDatabase::probe(db("country-v6.mmdb"), GeoLayout::automatic, false, true);
  ASSERT_EQ(country_for_asn.warnings.size(), 1u);
  EXPECT_NE(country_for_asn.warnings[0].find("rhost.asn will be unknown"), std::string::npos);

  GeoProbe v4 = GeoIpDatabase::probe(db("country-v4.mmdb"));
  ASSERT_EQ(v4.warnings.size(), 1u);
  EXPECT_NE(v4.warnings[0].find("IPv4-only"), std::string::npos);
}

// Issue #13: the answers decide logins, so a database is trusted like a policy file (root-owned,
// not writable by group or others, every folder above it root's alone). Anything else is
// refused: lookups are unknown with the reason, and probe() (what `authpolicy check` reports as
// W109) says the same.
class GeoIpTrustTest : public GeoIpFilesTest {
 protected:
  void SetUp() override {
    GeoIpFilesTest::SetUp();
    ASSERT_EQ(geteuid(), 0u) << "the trust tests chown files: run them as root";
    folder_ = make_temp_dir();
    ASSERT_EQ(chmod(folder_.c_str(), 0755), 0);
  }
  // A copy of a good country database at `name` below the temporary folder, with `mode`.
  std::string copy(const std::string& name, mode_t mode) {
    const std::string path = folder_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::filesystem::copy_file(db("country-v6.mmdb"), path);
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
  // Refused by open, unknown with the reason through the cache, and probe() names it too.
  void ExpectRefused(const std::string& path, const std::string& why) {
    ExpectOpenFails(path, "refused: " + why);
    GeoIpSettings settings;
    settings.country_path = path;
    geoip_cache_clear();
    const GeoLookup lookup = lookup_country(settings, "81.2.69.160");
    EXPECT_EQ(lookup.kind, GeoLookup::unknown);
    EXPECT_NE(lookup.cause.find(why), std::string::npos) << lookup.cause;
    const GeoProbe report = GeoIpDatabase::probe(path);
    EXPECT_FALSE(report.readable);
    EXPECT_NE(report.problem.find(path + ": refused: " + why), std::string::npos) << report.problem;
  }
  std::string folder_;
};

TEST_F(GeoIpTrustTest, RootOwnedDatabaseInRootFoldersIsUsed) {
  // The control for the refusals below: the same file, trusted, answers.
  const std::string path = copy("good/country.mmdb", 0644);
  GeoIpSettings settings;
  settings.country_path = path;
  geoip_cache_clear();
  const GeoLookup lookup = lookup_country(settings, "81.2.69.160");
  EXPECT_EQ(lookup.kind, GeoLookup::value) << lookup.cause;
  EXPECT_EQ(lookup.text, "GB");
}

TEST_F(GeoIpTrustTest, GroupOrOtherWritableDatabaseIsRefused) {
  const std::string group = copy("group.mmdb", 0664);
  ExpectRefused(group, group + " is writable by its group (mode 0664)");
  const std::string others = copy("others.mmdb", 0666);
  ExpectRefused(others, others + " is writable by others (mode 0666)");
}

TEST_F(GeoIpTrustTest, DatabaseNotOwnedByRootIsRefused) {
  const std::string path = copy("nobody.mmdb", 0644);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  ExpectRefused(path, path + " is owned by uid 65534 (nobody), not root");
}

TEST_F(GeoIpTrustTest, DatabaseInAUserOwnedFolderIsRefused) {
  // The user cannot write the file, but can rename another in its place.
  const std::string path = copy("home/country.mmdb", 0644);
  ASSERT_EQ(chown((folder_ + "/home").c_str(), 65534, 65534), 0);
  ExpectRefused(path, "folder " + folder_ + "/home is owned by uid 65534 (nobody), not root");
}

TEST_F(GeoIpTrustTest, DatabaseInAGroupWritableFolderIsRefused) {
  const std::string path = copy("shared/country.mmdb", 0644);
  ASSERT_EQ(chmod((folder_ + "/shared").c_str(), 0775), 0);
  ExpectRefused(path, "folder " + folder_ + "/shared is writable by its group (mode 0775)");
}

TEST_F(GeoIpTrustTest, SymlinkIntoAUserFolderIsRefusedAndRootsOwnIsFollowed) {
  // geoipupdate-style installs link a fixed name to the current file: root's link is followed.
  const std::string real = copy("db/country-2026.mmdb", 0644);
  const std::string link = folder_ + "/db/country.mmdb";
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  GeoIpSettings settings;
  settings.country_path = link;
  geoip_cache_clear();
  EXPECT_EQ(lookup_country(settings, "81.2.69.160").kind, GeoLookup::value);

  const std::string user = copy("home/country.mmdb", 0644);
  ASSERT_EQ(chown((folder_ + "/home").c_str(), 65534, 65534), 0);
  const std::string into_home = folder_ + "/db/home.mmdb";
  ASSERT_EQ(symlink(user.c_str(), into_home.c_str()), 0);
  ExpectRefused(into_home, "folder " + folder_ + "/home is owned by uid 65534 (nobody), not root");
}

}  // namespace
}  // namespace authpolicy
