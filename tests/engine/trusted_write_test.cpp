// The one atomic file write (base/trusted_write.h) and the walk that opens the folder it writes
// into: root's symlinks only, every change relative to the checked descriptor, new files never
// set-id, exclusive creation never through a planted name, changes re-checked.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/file_trust.h"
#include "base/trusted_write.h"
#include "test_support.h"

namespace authpolicy::test {
namespace {

uid_t nobody_uid() {
  const passwd* nobody = getpwnam("nobody");
  return nobody ? nobody->pw_uid : 65534;
}

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class TrustedWrite : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "these tests chown files and folders; run them as root";
    chmod(dir_.path().c_str(), 0755);
  }
  // Every name in `folder` but the ones given: temporary files left behind show up here.
  std::vector<std::string> others(const std::string& folder, std::vector<std::string> known) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
      const std::string name = entry.path().filename().string();
      if (std::find(known.begin(), known.end(), name) == known.end()) names.push_back(name);
    }
    return names;
  }
  TempDir dir_;
};

TEST_F(TrustedWrite, ReplaceWritesOwnerAndModeButNeverSetIdBits) {
  dir_.write("f/secret", "old\n", 06755);
  const TrustedFile folder = open_folder_trusted(dir_.file("f"), TrustRules{});
  ASSERT_TRUE(folder.ok()) << folder.reason;
  const WriteResult done = replace_at(folder, "secret", "new\n", {nobody_uid(), 0, 06750});
  ASSERT_TRUE(done.ok()) << done.reason;
  struct stat st {};
  ASSERT_EQ(lstat(dir_.file("f/secret").c_str(), &st), 0);
  EXPECT_EQ(contents(dir_.file("f/secret")), "new\n");
  EXPECT_EQ(st.st_uid, nobody_uid());
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_TRUE(others(dir_.file("f"), {"secret"}).empty()) << "a temporary file was left";
}

TEST_F(TrustedWrite, WriteNewRefusesATakenNameAndAPlantedSymlink) {
  dir_.write("f/taken", "theirs\n", 0644);
  dir_.write("target", "root's\n", 0644);
  ASSERT_EQ(symlink(dir_.file("target").c_str(), dir_.file("f/planted").c_str()), 0);
  const TrustedFile folder = open_folder_trusted(dir_.file("f"), TrustRules{});
  ASSERT_TRUE(folder.ok()) << folder.reason;
  EXPECT_EQ(write_new_at(folder, "taken", "mine\n", {}).status, WriteStatus::exists);
  EXPECT_EQ(write_new_at(folder, "planted", "mine\n", {}).status, WriteStatus::exists);
  UniqueFd opened;
  EXPECT_EQ(create_exclusive_at(folder, "planted", {}, opened).status, WriteStatus::exists);
  EXPECT_LT(opened.get(), 0);
  ASSERT_TRUE(create_exclusive_at(folder, "made", {0, 0, 04640}, opened).ok());
  struct stat made {};
  ASSERT_EQ(fstat(opened.get(), &made), 0);
  EXPECT_EQ(made.st_mode & 07777, 0640u);
  EXPECT_EQ(contents(dir_.file("f/taken")), "theirs\n");
  EXPECT_EQ(contents(dir_.file("target")), "root's\n");
  EXPECT_TRUE(write_new_at(folder, "fresh", "mine\n", {0, 0, 0640}).ok());
  EXPECT_EQ(contents(dir_.file("f/fresh")), "mine\n");
  EXPECT_TRUE(others(dir_.file("f"), {"taken", "planted", "made", "fresh"}).empty());
}

TEST_F(TrustedWrite, WritesGoWhereTheFolderWasCheckedWhateverItsNameBecomes) {
  dir_.write("f/file", "old\n", 0600);
  ASSERT_TRUE(std::filesystem::create_directory(dir_.file("elsewhere")));
  const TrustedFile folder = open_folder_trusted(dir_.file("f"), TrustRules{});
  ASSERT_TRUE(folder.ok()) << folder.reason;
  // The folder moves away and another takes its name: the write follows the descriptor.
  ASSERT_EQ(rename(dir_.file("f").c_str(), dir_.file("moved").c_str()), 0);
  ASSERT_EQ(rename(dir_.file("elsewhere").c_str(), dir_.file("f").c_str()), 0);
  ASSERT_TRUE(replace_at(folder, "file", "new\n", {}).ok());
  EXPECT_EQ(contents(dir_.file("moved/file")), "new\n");
  EXPECT_FALSE(std::filesystem::exists(dir_.file("f/file")));
}

TEST_F(TrustedWrite, ReplaceWithAnExpectedFileLeavesAChangedOneAlone) {
  dir_.write("f/p", "first\n", 0644);
  const TrustedFile folder = open_folder_trusted(dir_.file("f"), TrustRules{});
  ASSERT_TRUE(folder.ok());
  const TrustedFile file = open_at_trusted(folder, "p", TrustRules{});
  ASSERT_TRUE(file.ok()) << file.reason;
  dir_.write("f/p.new", "second\n", 0644);
  ASSERT_EQ(rename(dir_.file("f/p.new").c_str(), dir_.file("f/p").c_str()), 0);
  EXPECT_EQ(replace_at(folder, "p", "mine\n", {}, &file.info).status, WriteStatus::changed);
  EXPECT_EQ(contents(dir_.file("f/p")), "second\n");
  EXPECT_EQ(remove_at(folder, "p", &file.info).status, WriteStatus::changed);
  EXPECT_TRUE(std::filesystem::exists(dir_.file("f/p")));
  EXPECT_TRUE(remove_at(folder, "p").ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.file("f/p")));
  EXPECT_TRUE(remove_at(folder, "p").ok()) << "a missing file is what removal wanted";
  EXPECT_TRUE(others(dir_.file("f"), {}).empty());
}

// The walk to a folder that is written into follows root's symlinks, never a user's, even when
// the user may own the folders (her TOTP file below her home).
TEST_F(TrustedWrite, FolderWalkFollowsRootsSymlinksOnly) {
  ASSERT_TRUE(std::filesystem::create_directories(dir_.file("home/real")));
  ASSERT_TRUE(std::filesystem::create_directories(dir_.file("rootdir")));
  ASSERT_EQ(chown(dir_.file("home").c_str(), nobody_uid(), 0), 0);
  ASSERT_EQ(chown(dir_.file("home/real").c_str(), nobody_uid(), 0), 0);
  ASSERT_EQ(symlink(dir_.file("rootdir").c_str(), dir_.file("home/theirs").c_str()), 0);
  ASSERT_EQ(lchown(dir_.file("home/theirs").c_str(), nobody_uid(), 0), 0);
  ASSERT_EQ(symlink(dir_.file("rootdir").c_str(), dir_.file("ours").c_str()), 0);
  TrustRules rules;
  rules.extra_owners = {nobody_uid()};
  EXPECT_TRUE(open_folder_trusted(dir_.file("home/real"), rules).ok());
  // Reading her own files may follow her link; writing may not.
  EXPECT_TRUE(open_trusted(dir_.file("home/theirs"), [&] {
                TrustRules folder_rules = rules;
                folder_rules.folder = true;
                return folder_rules;
              }()).ok());
  const TrustedFile refused = open_folder_trusted(dir_.file("home/theirs"), rules);
  EXPECT_EQ(refused.status, TrustStatus::unsafe);
  EXPECT_NE(refused.reason.find("symbolic link"), std::string::npos) << refused.reason;
  EXPECT_TRUE(open_folder_trusted(dir_.file("ours"), TrustRules{}).ok());
}

TEST_F(TrustedWrite, OpenAtRefusesLinksHardLinksAndForeignFiles) {
  dir_.write("f/ok", "x\n", 0600);
  dir_.write("f/theirs", "x\n", 0600);
  ASSERT_EQ(chown(dir_.file("f/theirs").c_str(), nobody_uid(), 0), 0);
  ASSERT_EQ(symlink("ok", dir_.file("f/link").c_str()), 0);
  ASSERT_EQ(link(dir_.file("f/ok").c_str(), dir_.file("f/second").c_str()), 0);
  const TrustedFile folder = open_folder_trusted(dir_.file("f"), TrustRules{});
  ASSERT_TRUE(folder.ok());
  EXPECT_EQ(open_at_trusted(folder, "link", TrustRules{}).status, TrustStatus::unsafe);
  EXPECT_EQ(open_at_trusted(folder, "second", TrustRules{}).status, TrustStatus::unsafe);
  EXPECT_EQ(open_at_trusted(folder, "theirs", TrustRules{}).status, TrustStatus::unsafe);
  EXPECT_EQ(open_at_trusted(folder, "absent", TrustRules{}).status, TrustStatus::missing);
  EXPECT_EQ(open_at_trusted(folder, "../f/ok", TrustRules{}).status, TrustStatus::unsafe);
  EXPECT_EQ(replace_at(folder, "../escape", "x", {}).status, WriteStatus::unsafe);
}

}  // namespace
}  // namespace authpolicy::test
