// Policy files must be root-owned, not group/other-writable, every folder above them root-owned and
// not writable by group or others: otherwise the policy is refused (E015) by check and by the
// module alike. Also the walk itself (base/file_trust.h): symlinks, folder owners, descriptors.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "base/file_trust.h"
#include "test_support.h"

namespace authpolicy::test {
namespace {

uid_t nobody_uid() {
  const passwd* nobody = getpwnam("nobody");
  return nobody ? nobody->pw_uid : 65534;
}

std::string e015_text(const std::string& path) {
  const LoadResult r = load_policy_file(path, {});
  for (const auto& d : r.diagnostics) {
    if (d.code == "E015") return d.message;
  }
  return {};
}

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

// Issue 13.1: a group member of a 0775 policy folder could replace the policy.
TEST_F(Ownership, GroupWritableFolderIsRefused) {
  const std::string path = dir_.write("shared/p.pol", "auth password\n", 0644);
  chmod((dir_.path() + "/shared").c_str(), 0775);
  EXPECT_NE(e015_text(path).find("folder " + dir_.path() + "/shared is writable by its group"),
            std::string::npos)
      << e015_text(path);
}

// Issue 13.1: the folder's owner was never checked; its owner can swap anything in it.
TEST_F(Ownership, FolderOwnedByAUserIsRefused) {
  const std::string path = dir_.write("mine/p.pol", "auth password\n", 0644);
  ASSERT_EQ(chown((dir_.path() + "/mine").c_str(), nobody_uid(), 0), 0);
  EXPECT_NE(e015_text(path).find("is owned by uid " + std::to_string(nobody_uid())),
            std::string::npos)
      << e015_text(path);
}

// Issue 13.1: folders a symlink passed through were not checked; the target is walked too.
TEST_F(Ownership, SymlinkIntoUserFolderIsRefused) {
  dir_.write("user/p.pol", "auth password\n", 0644);
  ASSERT_EQ(chown((dir_.path() + "/user").c_str(), nobody_uid(), 0), 0);
  ASSERT_EQ(symlink((dir_.path() + "/user/p.pol").c_str(), dir_.file("link.pol").c_str()), 0);
  EXPECT_TRUE(refused_as_unsafe(dir_.file("link.pol")));
}

// A root-owned symlink in a trusted folder to a trusted file is followed (sudo.pol -> shared.pol).
TEST_F(Ownership, RootSymlinkToTrustedFileIsFollowed) {
  dir_.write("shared.pol", "auth password\n", 0644);
  ASSERT_EQ(symlink("shared.pol", dir_.file("sudo.pol").c_str()), 0);
  EXPECT_TRUE(load_policy_file(dir_.file("sudo.pol"), {}).policy);
}

// A symlink not owned by root is refused even in a trusted folder (and its target not read).
TEST_F(Ownership, SymlinkOwnedByAUserIsRefused) {
  dir_.write("shared.pol", "auth password\n", 0644);
  ASSERT_EQ(symlink("shared.pol", dir_.file("sudo.pol").c_str()), 0);
  ASSERT_EQ(lchown(dir_.file("sudo.pol").c_str(), nobody_uid(), 0), 0);
  EXPECT_NE(e015_text(dir_.file("sudo.pol")).find("symbolic link"), std::string::npos);
}

// The descriptor handed back is the file that was checked, whatever happens to the path later.
TEST_F(Ownership, TrustedDescriptorIsTheCheckedFile) {
  const std::string path = dir_.write("p.pol", "first\n", 0644);
  TrustedFile file = open_trusted(path, TrustRules{});
  ASSERT_TRUE(file.ok()) << file.reason;
  dir_.write("other.pol", "second\n", 0666);
  ASSERT_EQ(rename(dir_.file("other.pol").c_str(), path.c_str()), 0);
  std::string problem;
  const std::optional<std::string> content = read_trusted(file, 1 << 20, &problem);
  ASSERT_TRUE(content) << problem;
  EXPECT_EQ(*content, "first\n");
  EXPECT_EQ(open_trusted(path, TrustRules{}).status, TrustStatus::unsafe);
}

TEST_F(Ownership, MissingIsMissingOnlyBelowTrustedFolders) {
  EXPECT_EQ(open_trusted(dir_.file("absent.pol"), TrustRules{}).status, TrustStatus::missing);
  dir_.write("open/keep", "", 0644);
  chmod((dir_.path() + "/open").c_str(), 0777);
  EXPECT_EQ(open_trusted(dir_.file("open/absent.pol"), TrustRules{}).status, TrustStatus::unsafe);
}

// Per-user files (TOTP, u2f): the user may own their folders and file, nobody else.
TEST_F(Ownership, ExtraOwnerIsAllowedOnlyWhenNamed) {
  const std::string path = dir_.write("home/.u2f", "x", 0600);
  ASSERT_EQ(chown((dir_.path() + "/home").c_str(), nobody_uid(), 0), 0);
  ASSERT_EQ(chown(path.c_str(), nobody_uid(), 0), 0);
  TrustRules rules;
  EXPECT_EQ(open_trusted(path, rules).status, TrustStatus::unsafe);
  rules.extra_owners = {nobody_uid()};
  EXPECT_TRUE(open_trusted(path, rules).ok());
  rules.extra_owners = {nobody_uid() - 1};
  EXPECT_EQ(open_trusted(path, rules).status, TrustStatus::unsafe);
}

TEST_F(Ownership, CheckSaysWhy) {
  const std::string path = dir_.write("g.pol", "auth password\n", 0664);
  const RunResult r = run_cli({"check", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("E015"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("writable by its group"), std::string::npos) << r.out;
  EXPECT_EQ(run_cli({"check", "--ignore-ownership", path}).exit_code, 0);
}

// A test module's bytes copied into the test folder (root-owned, 0644): a file the walk trusts.
std::string copy_module(const TempDir& dir, const char* from, const std::string& name) {
  std::ifstream in(from, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return dir.write(name, bytes, 0644);
}

// Which build of tests/engine/trusted_module.c the handle is, or -1.
int module_id(void* handle) {
  auto id = reinterpret_cast<int (*)()>(dlsym(handle, "ap_test_module_id"));
  return id ? id() : -1;
}

// dlopen_trusted loads through /proc/self/fd/N, and the loader answers a name it already knows
// with the object it has: a module kept loaded under that name must not be handed back for
// another file that is later loaded through the same descriptor number.
TEST_F(Ownership, DlopenTrustedLoadsTheCheckedFileWhenItsNameIsTaken) {
  const std::string first = copy_module(dir_, AP_TEST_TRUSTED_MODULE_1, "first.so");
  const std::string second = copy_module(dir_, AP_TEST_TRUSTED_MODULE_2, "second.so");
  std::string error;
  void* one = nullptr;
  {
    const TrustedFile file = open_trusted(first, TrustRules{});
    ASSERT_TRUE(file.ok()) << file.reason;
    one = dlopen_trusted(file, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE, &error);
    ASSERT_NE(one, nullptr) << error;
  }
  ASSERT_EQ(module_id(one), 1);
  Dl_info info{};
  ASSERT_NE(dladdr(dlsym(one, "ap_test_module_id"), &info), 0);
  const std::string taken = info.dli_fname;

  const TrustedFile file = open_trusted(second, TrustRules{});
  ASSERT_TRUE(file.ok()) << file.reason;
  // The scene: the descriptor number dlopen_trusted tries first is the one `first` was loaded by.
  const int probe = fcntl(file.fd(), F_DUPFD_CLOEXEC, 3);
  ASSERT_GE(probe, 0);
  close(probe);
  ASSERT_EQ(taken, "/proc/self/fd/" + std::to_string(probe));
  void* two = dlopen_trusted(file, RTLD_NOW | RTLD_LOCAL, &error);
  ASSERT_NE(two, nullptr) << error;
  EXPECT_EQ(module_id(two), 2);
  dlclose(two);

  // The same file again, through a new descriptor: the object already loaded is that file.
  const TrustedFile again = open_trusted(first, TrustRules{});
  ASSERT_TRUE(again.ok()) << again.reason;
  void* same = dlopen_trusted(again, RTLD_NOW | RTLD_LOCAL, &error);
  ASSERT_NE(same, nullptr) << error;
  EXPECT_EQ(module_id(same), 1);
  dlclose(same);
}


// On overlayfs (a container's root file system, the suite's clean view) /proc/self/maps names the
// file underneath the overlay, not the device fstat gives: a module already loaded, checked again
// through a new descriptor, must still be recognised as the checked file (it was refused, and
// every delegated module with it).
TEST_F(Ownership, DlopenTrustedRecognisesAModuleOnOverlayfs) {
  ASSERT_EQ(geteuid(), 0u) << "needs root: it mounts an overlay in a private mount namespace";
  copy_module(dir_, AP_TEST_TRUSTED_MODULE_1, "lower/first.so");
  const std::string lower = dir_.file("lower");
  const std::string view = dir_.file("view");
  const std::string scratch = dir_.file("scratch");
  for (const std::string& folder : {view, scratch}) {
    ASSERT_EQ(mkdir(folder.c_str(), 0755), 0) << folder;
  }
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(report[0]);
    auto say = [&](const std::string& text) {
      if (write(report[1], text.data(), text.size()) < 0) _exit(3);
      _exit(text == "loaded 1 twice" ? 0 : 1);
    };
    if (unshare(CLONE_NEWNS) != 0) say("unshare failed");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) say("private / failed");
    // The upper layer on another file system than the lower (as the clean view's tmpfs, or a
    // container's): overlayfs then gives fstat a device of its own.
    if (mount("ap-overlay-test", scratch.c_str(), "tmpfs", 0, "mode=0755") != 0 ||
        mkdir((scratch + "/upper").c_str(), 0755) != 0 ||
        mkdir((scratch + "/work").c_str(), 0755) != 0) {
      say("tmpfs for the upper layer failed");
    }
    const std::string options =
        "lowerdir=" + lower + ",upperdir=" + scratch + "/upper,workdir=" + scratch + "/work";
    if (mount("ap-overlay-test", view.c_str(), "overlay", 0, options.c_str()) != 0) {
      say("overlay mount failed");
    }
    std::string error;
    const TrustedFile file = open_trusted(view + "/first.so", TrustRules{});
    if (!file.ok()) say("not trusted: " + file.reason);
    void* one = dlopen_trusted(file, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE, &error);
    if (one == nullptr || module_id(one) != 1) say("first load: " + error);
    const TrustedFile again = open_trusted(view + "/first.so", TrustRules{});
    void* same = dlopen_trusted(again, RTLD_NOW | RTLD_LOCAL, &error);
    if (same == nullptr || module_id(same) != 1) say("second load: " + error);
    say("loaded 1 twice");
  }
  close(report[1]);
  std::string said;
  char buffer[512];
  for (ssize_t n; (n = read(report[0], buffer, sizeof buffer)) > 0;) said.append(buffer, n);
  close(report[0]);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(said, "loaded 1 twice");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace authpolicy::test
