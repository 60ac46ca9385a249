// The pam_u2f authfile parser against pam_u2f's own fixture files and hand-made damage.
#include "factors/u2f/authfile.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace authpolicy::u2f {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name, const std::string& user = "alice") {
  std::ifstream in(fs::path(AP_U2F_FIXTURES) / name);
  EXPECT_TRUE(in) << "missing fixture " << name;
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  for (std::size_t at; (at = text.find("@USERNAME@")) != std::string::npos;)
    text.replace(at, 10, user);
  return text;
}

struct Expected {
  std::size_t count;
  bool resident;
  CredentialAttributes attributes;
};

// pamu2fcfg flags in the fixture names: -r resident, -P no presence, -V verification, -N PIN.
Expected expected_from_name(const std::string& name) {
  Expected e{name.starts_with("new_double_") ? 2u : 1u, false, {}};
  e.resident = name.find("-r") != std::string::npos;
  e.attributes.presence = name.find("-P") == std::string::npos;
  e.attributes.verification = name.find("-V") != std::string::npos;
  e.attributes.pin = name.find("-N") != std::string::npos;
  return e;
}

TEST(U2fAuthfile, EveryPamU2fFixtureParsesAsItsNameSays) {
  int checked = 0;
  for (const auto& item : fs::directory_iterator(AP_U2F_FIXTURES)) {
    const std::string name = item.path().filename();
    if (!name.ends_with(".cred.in")) continue;
    SCOPED_TRACE(name);
    const Authfile file = parse_authfile(fixture(name));
    ++checked;
    if (name == "ssh_credential.cred.in") {
      ASSERT_EQ(file.lines.size(), 1u);
      ASSERT_TRUE(file.lines[0].error);
      EXPECT_NE(file.lines[0].error->find("OpenSSH"), std::string::npos);
      EXPECT_EQ(file.entry_for("alice"), nullptr);
      continue;
    }
    const AuthfileLine* entry = file.entry_for("alice");
    ASSERT_NE(entry, nullptr);
    ASSERT_FALSE(entry->error) << *entry->error;
    EXPECT_TRUE(file.malformed().empty());
    EXPECT_EQ(entry->line, 1);
    if (name == "empty.cred.in") {
      EXPECT_TRUE(entry->credentials.empty());
      continue;
    }
    if (name == "old_credential.cred.in") {
      ASSERT_EQ(entry->credentials.size(), 1u);
      const Credential& c = entry->credentials[0];
      EXPECT_EQ(c.format, CredentialFormat::old);
      EXPECT_EQ(c.type, CoseType::es256);
      EXPECT_TRUE(c.attributes.presence);
      EXPECT_EQ(c.key_handle.size(), 64u);
      EXPECT_EQ(c.public_key.size(), 65u);
      EXPECT_EQ(c.public_key[0], 0x04);
      continue;
    }
    if (name == "new_limited_count.cred.in") {
      ASSERT_EQ(entry->credentials.size(), 3u);
      EXPECT_EQ(entry->credentials[0].type, CoseType::eddsa);
      EXPECT_EQ(entry->credentials[1].type, CoseType::es256);
      EXPECT_EQ(entry->credentials[2].type, CoseType::eddsa);
      EXPECT_EQ(entry->credentials[0].public_key.size(), 32u);
      for (const auto& c : entry->credentials)
        EXPECT_EQ(c.attributes, (CredentialAttributes{true, true, true}));
      continue;
    }
    if (name.starts_with("new_mixed_")) {
      ASSERT_EQ(entry->credentials.size(), 2u);
      // mixed_<first><second>: "-P" before a number means that credential needs no touch.
      const bool first_touch = name == "new_mixed_1-P2.cred.in" || name == "new_mixed_12.cred.in";
      const bool second_touch = name == "new_mixed_-P12.cred.in" || name == "new_mixed_12.cred.in";
      EXPECT_EQ(entry->credentials[0].attributes.presence, first_touch);
      EXPECT_EQ(entry->credentials[1].attributes.presence, second_touch);
      continue;
    }
    const Expected expected = expected_from_name(name);
    ASSERT_EQ(entry->credentials.size(), expected.count);
    for (const auto& c : entry->credentials) {
      EXPECT_EQ(c.format, CredentialFormat::current);
      EXPECT_EQ(c.type, CoseType::es256);
      EXPECT_EQ(c.resident, expected.resident);
      EXPECT_EQ(c.resident, c.key_handle.empty());
      EXPECT_EQ(c.attributes, expected.attributes);
      EXPECT_EQ(c.public_key.size(), 64u);
    }
  }
  EXPECT_EQ(checked, 40);
}

TEST(U2fAuthfile, CurrentLinesRoundTripThroughToField) {
  const std::string text = fixture("new_double_-r-V-N.cred.in") + fixture("new_-N.cred.in", "bob");
  const Authfile file = parse_authfile(text);
  for (const auto& line : file.lines) {
    std::string rebuilt = line.user + ":";
    for (std::size_t i = 0; i < line.credentials.size(); ++i)
      rebuilt += (i ? ":" : "") + line.credentials[i].to_field();
    EXPECT_NE(text.find(rebuilt), std::string::npos) << rebuilt;
  }
}

TEST(U2fAuthfile, LastLineForAUserWins) {
  const std::string text = fixture("new_.cred.in") + fixture("new_-r-N.cred.in");
  const Authfile file = parse_authfile(text);
  const AuthfileLine* entry = file.entry_for("alice");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->line, 2);
  ASSERT_EQ(entry->credentials.size(), 1u);
  EXPECT_TRUE(entry->credentials[0].resident);
  EXPECT_TRUE(file.lines[0].superseded);
}

TEST(U2fAuthfile, MalformedLinesNameTheirLineAndLeaveOtherUsersAlone) {
  const std::string good_bob = fixture("new_.cred.in", "bob");
  const std::string text =
      "# comment\n"
      "carol:not base64!,AAAA,es256,+presence\n" +
      good_bob +  // line 3
      "dave:" + fixture("new_.cred.in", "x").substr(2, 40) + "\n" +
      "erin:*,AAAA,es999,\n"
      "frank\n"
      "gina:*,b9G0ZYtAB4TQQBnpUfptgTzDArSqLMP3/"
      "LxtHYZQrIpXrUnGsqi0gYrKa8ThJoKRlj6f3EJdsJMRdnOr6323+w==,es256,+touch\n"
      "hank:*,"
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==,"
      "es256,+presence\n";
  const Authfile file = parse_authfile(text);
  const auto bad = file.malformed();
  ASSERT_EQ(bad.size(), 6u);
  EXPECT_EQ(bad[0]->line, 2);
  EXPECT_EQ(bad[0]->user, "carol");
  EXPECT_NE(bad[0]->error->find("key handle"), std::string::npos);
  EXPECT_EQ(bad[1]->line, 4);
  EXPECT_EQ(bad[1]->user, "dave");
  EXPECT_EQ(bad[2]->line, 5);
  EXPECT_NE(bad[2]->error->find("key type"), std::string::npos);
  EXPECT_EQ(bad[3]->line, 6);
  EXPECT_EQ(bad[3]->user, "frank");  // a bare name still counts as frank's line
  EXPECT_NE(bad[3]->error->find("':'"), std::string::npos);
  EXPECT_NE(bad[4]->error->find("attribute"), std::string::npos);
  EXPECT_NE(bad[5]->error->find("P-256"), std::string::npos);  // zero point is not on the curve
  for (const auto* line : bad) EXPECT_TRUE(line->credentials.empty());

  const AuthfileLine* bob = file.entry_for("bob");
  ASSERT_NE(bob, nullptr);
  EXPECT_FALSE(bob->error);
  EXPECT_EQ(bob->credentials.size(), 1u);
  // Errors never quote key material.
  for (const auto* line : bad) EXPECT_EQ(line->error->find("AAAA"), std::string::npos);
}

TEST(U2fAuthfile, ALaterGoodLineRepairsAnEarlierBadOne) {
  const Authfile file = parse_authfile("alice:garbage\n" + fixture("new_.cred.in"));
  const AuthfileLine* entry = file.entry_for("alice");
  ASSERT_NE(entry, nullptr);
  EXPECT_FALSE(entry->error);
  EXPECT_EQ(file.malformed().size(), 1u);  // still reported for `list`
}

TEST(U2fAuthfile, PercentUIsTheUserNameAndCannotEscapeTheFolder) {
  EXPECT_EQ(expand_authfile_path("/etc/u2f/%u.keys", "alice"), "/etc/u2f/alice.keys");
  EXPECT_EQ(expand_authfile_path("/home/%u/.config/Yubico/u2f_keys", "bob"),
            "/home/bob/.config/Yubico/u2f_keys");
  EXPECT_EQ(expand_authfile_path("/etc/100%%/%u", "c"), "/etc/100%/c");
  EXPECT_FALSE(expand_authfile_path("/etc/u2f/%u", "../root"));
  EXPECT_FALSE(expand_authfile_path("/etc/u2f/%u", ".."));
  EXPECT_FALSE(expand_authfile_path("/etc/u2f/%u", ""));
  EXPECT_FALSE(expand_authfile_path("/etc/u2f/%h", "alice"));
  EXPECT_EQ(expand_authfile_path("/etc/u2f_keys", "../x"), "/etc/u2f_keys");  // no %u, no use
}

class U2fAuthfilePermissions : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/ap-u2f-perm-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ / "u2f_keys";
    std::ofstream(path_) << "alice:\n";
    ::chmod(path_.c_str(), 0644);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_, path_;
};

// Issue 13.4: the authfile's folder was never checked; a group member of it could replace the file.
TEST_F(U2fAuthfilePermissions, FolderWritableByItsGroupIsRefused) {
  ASSERT_EQ(::geteuid(), 0u) << "these checks chmod folders: run the tests as root (as CI does)";
  ::chmod(dir_.c_str(), 0770);
  auto result = read_authfile(path_, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<AuthfileReadError>(result));
  EXPECT_EQ(std::get<AuthfileReadError>(result).kind, AuthfileReadError::Kind::unsafe);
  EXPECT_NE(std::get<AuthfileReadError>(result).message.find("writable by its group"),
            std::string::npos);
  ::chmod(dir_.c_str(), 0700);
  ::chown(dir_.c_str(), 4321, 4321);  // a folder of another user: refused for this one
  EXPECT_TRUE(std::holds_alternative<AuthfileReadError>(read_authfile(path_, uid_t(1234))));
  EXPECT_TRUE(std::holds_alternative<std::string>(read_authfile(path_, uid_t(4321))));
}

TEST_F(U2fAuthfilePermissions, OwnerOrRootAndNotWritableByOthers) {
  ASSERT_EQ(::geteuid(), 0u) << "these checks chown files: run the tests as root (as CI does)";
  auto ok = read_authfile(path_, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<std::string>(ok));
  EXPECT_EQ(std::get<std::string>(ok), "alice:\n");

  ::chmod(path_.c_str(), 0646);
  auto writable = read_authfile(path_, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<AuthfileReadError>(writable));
  EXPECT_EQ(std::get<AuthfileReadError>(writable).kind, AuthfileReadError::Kind::unsafe);
  EXPECT_NE(std::get<AuthfileReadError>(writable).message.find("writable by others"),
            std::string::npos);

  // Issue 13.4: any member of the file's group could add a key for any user.
  ::chmod(path_.c_str(), 0664);
  auto group = read_authfile(path_, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<AuthfileReadError>(group));
  EXPECT_EQ(std::get<AuthfileReadError>(group).kind, AuthfileReadError::Kind::unsafe);
  EXPECT_NE(std::get<AuthfileReadError>(group).message.find("writable by its group"),
            std::string::npos);

  ::chmod(path_.c_str(), 0644);
  ::chown(path_.c_str(), 4321, 4321);
  auto other = read_authfile(path_, uid_t(1234));
  ASSERT_TRUE(std::holds_alternative<AuthfileReadError>(other));
  EXPECT_EQ(std::get<AuthfileReadError>(other).kind, AuthfileReadError::Kind::unsafe);
  EXPECT_NE(std::get<AuthfileReadError>(other).message.find("owned by uid 4321"),
            std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(read_authfile(path_, uid_t(4321))));

  // A link is followed only when root or the user owns it (the folder holding it passed).
  const fs::path link = dir_ / "link";
  fs::create_symlink(path_, link);
  EXPECT_TRUE(std::holds_alternative<std::string>(read_authfile(link, uid_t(4321))));
  ASSERT_EQ(::lchown(link.c_str(), 1234, 1234), 0);
  auto via_link = read_authfile(link, uid_t(4321));
  ASSERT_TRUE(std::holds_alternative<AuthfileReadError>(via_link));
  EXPECT_EQ(std::get<AuthfileReadError>(via_link).kind, AuthfileReadError::Kind::unsafe);

  auto missing = read_authfile(dir_ / "nope", std::nullopt);
  ASSERT_TRUE(std::holds_alternative<AuthfileReadError>(missing));
  EXPECT_EQ(std::get<AuthfileReadError>(missing).kind, AuthfileReadError::Kind::missing);

  auto folder = read_authfile(dir_, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<AuthfileReadError>(folder));
}

}  // namespace
}  // namespace authpolicy::u2f
