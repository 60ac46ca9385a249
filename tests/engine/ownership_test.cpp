// Policy files must be root-owned, not group/other-writable, in folders not writable by others:
// otherwise the policy is refused (E015) by check and by the module alike.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"

namespace authpolicy::test {
namespace {

bool refused_as_unsafe(const std::string& path) {
  const LoadResult r = load_policy_file(path, {});
  if (r.policy) return false;
  for (const auto& d : r.diagnostics) {
    if (d.code == "E015") return true;
  }
  return false;
}

class Ownership : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "ownership tests need root (they chown files); run them as root";
    chmod(dir_.path().c_str(), 0755);
  }
  TempDir dir_;
};

TEST_F(Ownership, RootOwnedReadOnlyIsAccepted) {
  const std::string path = dir_.write("ok.pol", "auth password\n", 0644);
  EXPECT_TRUE(load_policy_file(path, {}).policy);
}

TEST_F(Ownership, GroupWritableIsRefused) {
  EXPECT_TRUE(refused_as_unsafe(dir_.write("g.pol", "auth password\n", 0664)));
}

TEST_F(Ownership, OtherWritableIsRefused) {
  EXPECT_TRUE(refused_as_unsafe(dir_.write("o.pol", "auth password\n", 0646)));
}

TEST_F(Ownership, NotOwnedByRootIsRefused) {
  const std::string path = dir_.write("nobody.pol", "auth password\n", 0644);
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr) << "needs the 'nobody' user";
  ASSERT_EQ(chown(path.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  EXPECT_TRUE(refused_as_unsafe(path));
}

TEST_F(Ownership, WorldWritableFolderIsRefused) {
  const std::string path = dir_.write("open/p.pol", "auth password\n", 0644);
  chmod((dir_.path() + "/open").c_str(), 0777);
  EXPECT_TRUE(refused_as_unsafe(path));
}

TEST_F(Ownership, StickyWorldWritableFolderIsAccepted) {
  const std::string path = dir_.write("sticky/p.pol", "auth password\n", 0644);
  chmod((dir_.path() + "/sticky").c_str(), 01777);
  EXPECT_TRUE(load_policy_file(path, {}).policy);
}

TEST_F(Ownership, UnsafeIncludeIsRefused) {
  dir_.write("shared.inc", "set trusted = { 10.0.0.0/8 }\n", 0666);
  const std::string path =
      dir_.write("main.pol", "include \"shared.inc\"\nauth password && totp unless rhost in trusted\n");
  EXPECT_TRUE(refused_as_unsafe(path));
}

TEST_F(Ownership, CheckSaysWhy) {
  const std::string path = dir_.write("g.pol", "auth password\n", 0664);
  const RunResult r = run_cli({"check", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("E015"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("writable by its group"), std::string::npos) << r.out;
  EXPECT_EQ(run_cli({"check", "--ignore-ownership", path}).exit_code, 0);
}

}  // namespace
}  // namespace authpolicy::test
