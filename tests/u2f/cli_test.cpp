// `authpolicy u2f enroll|list|remove` through its run function, with the software key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <sstream>

#include "cli/command_registry.h"
#include "cli/u2f_command.h"
#include "factors/u2f/u2f_provider.h"
#include "tests/u2f/soft_fido_authenticator.h"
#include "tests/u2f/test_support.h"

namespace authpolicy {
namespace {

using namespace std::chrono_literals;
using testing::kOrigin;
using testing::ScriptedConversation;
using testing::SoftFidoAuthenticator;
using testing::SoftFidoDeviceSource;
using testing::TempFolder;

class U2fCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = SoftFidoAuthenticator::create();
    devices_ = std::make_shared<SoftFidoDeviceSource>();
    devices_->plug_in(key_);
    authfile_ = folder_.file("u2f_keys");
    environment_.devices = devices_;
    environment_.conversation = &conversation_;
    environment_.wait_for_key = 200ms;
  }

  int run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return cli::run_u2f_with(args, out_, err_, environment_);
  }

  FactorResult login(const std::string& user) {
    const Settings settings = testing::u2f_settings(authfile_);
    FactorRequest request;
    request.user = user;
    ScriptedConversation conversation;
    conversation.secrets = conversation_.secrets;
    return make_u2f_provider(settings, devices_)->authenticate(request, conversation);
  }

  TempFolder folder_;
  std::string authfile_;
  std::shared_ptr<SoftFidoAuthenticator> key_;
  std::shared_ptr<SoftFidoDeviceSource> devices_;
  ScriptedConversation conversation_;
  cli::U2fCommandEnvironment environment_;
  std::ostringstream out_, err_;
};

TEST_F(U2fCommand, IsRegistered) {
  EXPECT_TRUE(cli::command_registry().contains("u2f"));
}

TEST_F(U2fCommand, EnrollThenAuthenticateRoundTrip) {
  ASSERT_EQ(run({"enroll", "alice", "--authfile", authfile_, "--origin", kOrigin}), 0)
      << err_.str();
  EXPECT_NE(out_.str().find("Enrolled a security key for alice"), std::string::npos);
  EXPECT_EQ(conversation_.infos, std::vector<std::string>{"Touch your security key to enroll it"});
  struct stat info {};
  ASSERT_EQ(::stat(authfile_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0644u);
  const std::string text = testing::read_text(authfile_);
  EXPECT_TRUE(text.starts_with("alice:")) << text;
  EXPECT_NE(text.find(",es256,+presence\n"), std::string::npos) << text;

  const FactorResult r = login("alice");
  EXPECT_EQ(r.outcome, Outcome::pass) << r.detail;
  EXPECT_EQ(login("bob").outcome, Outcome::unavailable);
}

TEST_F(U2fCommand, EnrollAddsToTheUsersLineAndRefusesTheSameKeyTwice) {
  ASSERT_EQ(run({"enroll", "alice", "--authfile", authfile_, "--origin", kOrigin}), 0);
  EXPECT_EQ(run({"enroll", "alice", "--authfile", authfile_, "--origin", kOrigin}), 1);
  EXPECT_NE(err_.str().find("already enrolled"), std::string::npos) << err_.str();

  auto second = SoftFidoAuthenticator::create();
  devices_->unplug_all();
  devices_->plug_in(second);
  ASSERT_EQ(run({"enroll", "alice", "--authfile", authfile_, "--origin", kOrigin}), 0);
  ASSERT_EQ(run({"enroll", "bob", "--authfile", authfile_, "--origin", kOrigin}), 0);
  const u2f::Authfile file = u2f::parse_authfile(testing::read_text(authfile_));
  ASSERT_EQ(file.lines.size(), 2u);
  EXPECT_EQ(file.entry_for("alice")->credentials.size(), 2u);
  EXPECT_EQ(login("alice").outcome, Outcome::pass);  // with the second key
  devices_->unplug_all();
  devices_->plug_in(key_);
  EXPECT_EQ(login("alice").outcome, Outcome::pass);  // and with the first
  EXPECT_EQ(login("bob").outcome, Outcome::unavailable);
}

TEST_F(U2fCommand, EnrollResidentWritesAStarAndAuthenticates) {
  ASSERT_EQ(run({"enroll", "alice", "--authfile", authfile_, "--origin", kOrigin, "--resident"}), 0)
      << err_.str();
  EXPECT_TRUE(testing::read_text(authfile_).starts_with("alice:*,"));
  EXPECT_EQ(login("alice").outcome, Outcome::pass);
}

TEST_F(U2fCommand, EnrollOnAKeyWithPinAsksForItAndMarksPin) {
  key_->set_pin("2468");
  conversation_.secrets = {"2468"};
  ASSERT_EQ(run({"enroll", "alice", "--authfile", authfile_, "--origin", kOrigin, "--pin"}), 0)
      << err_.str();
  EXPECT_NE(testing::read_text(authfile_).find(",es256,+presence+pin"), std::string::npos);
  conversation_.secrets = {"2468"};
  EXPECT_EQ(login("alice").outcome, Outcome::pass);
  conversation_.secrets = {"0000"};
  EXPECT_EQ(login("alice").detail, u2f_detail::kWrongKeyPin);
}

TEST_F(U2fCommand, EnrollWithoutAKeyOrOriginSaysSo) {
  devices_->unplug_all();
  EXPECT_EQ(run({"enroll", "alice", "--authfile", authfile_}), 1);
  EXPECT_NE(err_.str().find("no --origin given"), std::string::npos);
  EXPECT_NE(err_.str().find("no security key found"), std::string::npos);
  EXPECT_EQ(conversation_.infos, std::vector<std::string>{"Insert your security key"});
}

TEST_F(U2fCommand, EnrollRefusesToBuildOnAMalformedLine) {
  folder_.write("u2f_keys", "alice:broken\n");
  EXPECT_EQ(run({"enroll", "alice", "--authfile", authfile_, "--origin", kOrigin}), 1);
  EXPECT_NE(err_.str().find(":1: malformed line for alice"), std::string::npos) << err_.str();
  EXPECT_EQ(key_->counters().credentials_made, 0);
}

TEST_F(U2fCommand, ListShowsCredentialsFormatsAndMalformedLines) {
  const auto made = key_->add_credential(kOrigin, false);
  // Built with reserve+push_back: GCC 12 at -O2 misreads insert() after a one-byte
  // initializer list as an out-of-bounds memcpy (-Warray-bounds false positive).
  u2f::Bytes point;
  point.reserve(made.public_key.size() + 1);
  point.push_back(0x04);
  point.insert(point.end(), made.public_key.begin(), made.public_key.end());
  const std::string old_handle = u2f::base64url_encode(made.id);
  folder_.write("u2f_keys", "alice:*," + u2f::base64_encode(made.public_key) +
                                ",es256,+presence+pin\n" + "bob:" + old_handle + "," +
                                u2f::hex_encode(point) + "\n" + "carol:xyz,abc,es256,\n");
  EXPECT_EQ(run({"list", "--authfile", authfile_}), 1);  // a malformed line is a problem
  const std::string text = out_.str();
  EXPECT_NE(text.find("alice (line 1): 1 credential"), std::string::npos) << text;
  EXPECT_NE(text.find("key handle *"), std::string::npos);
  EXPECT_NE(text.find("type es256, attributes +presence+pin, format current"), std::string::npos);
  EXPECT_NE(text.find("key handle " + old_handle), std::string::npos);
  EXPECT_NE(text.find("format old"), std::string::npos);
  EXPECT_NE(text.find(authfile_ + ":3: malformed line for carol"), std::string::npos) << text;

  EXPECT_EQ(run({"list", "bob", "--authfile", authfile_}), 0);
  EXPECT_EQ(out_.str().find("alice"), std::string::npos);
  EXPECT_EQ(run({"list", "dave", "--authfile", authfile_}), 1);
  EXPECT_NE(err_.str().find("dave has no credentials"), std::string::npos);

  EXPECT_EQ(run({"list", "bob", "--authfile", authfile_, "--json"}), 0);
  EXPECT_EQ(out_.str(), "{\"authfile\":\"" + authfile_ +
                            "\",\"entries\":[{\"line\":2,\"user\":\"bob\",\"superseded\":false,"
                            "\"credentials\":[{\"key_handle\":\"" +
                            old_handle +
                            "\",\"resident\":false,\"type\":\"es256\",\"attributes\":\"+presence\","
                            "\"format\":\"old\"}]}]}\n");
  EXPECT_EQ(run({"list", "carol", "--authfile", authfile_, "--json"}), 1);
  EXPECT_NE(out_.str().find("\"line\":3,\"user\":\"carol\""), std::string::npos);
  EXPECT_NE(out_.str().find("\"error\":\"credential 1: key handle is not base64\""),
            std::string::npos)
      << out_.str();
}

TEST_F(U2fCommand, ListWarnsAboutAnUnsafeFile) {
  folder_.write("u2f_keys", "alice:\n", 0666);
  EXPECT_EQ(run({"list", "--authfile", authfile_}), 0);
  EXPECT_NE(err_.str().find("writable by others (mode 0666) (the u2f factor refuses this file)"),
            std::string::npos)
      << err_.str();
}

TEST_F(U2fCommand, RemoveOneCredentialThenAll) {
  ASSERT_EQ(run({"enroll", "alice", "--authfile", authfile_, "--origin", kOrigin}), 0);
  auto second = SoftFidoAuthenticator::create();
  devices_->plug_in(second);
  devices_->unplug_all();
  devices_->plug_in(second);
  ASSERT_EQ(run({"enroll", "alice", "--authfile", authfile_, "--origin", kOrigin}), 0);
  ASSERT_EQ(run({"enroll", "bob", "--authfile", authfile_, "--origin", kOrigin}), 0);
  const u2f::Authfile before = u2f::parse_authfile(testing::read_text(authfile_));
  const std::string first_handle = before.entry_for("alice")->credentials[0].key_handle_text;

  EXPECT_EQ(run({"remove", "alice", "--authfile", authfile_, "--key-handle", first_handle}), 0)
      << err_.str();
  EXPECT_NE(out_.str().find("Removed 1 credential of alice"), std::string::npos);
  const u2f::Authfile after = u2f::parse_authfile(testing::read_text(authfile_));
  ASSERT_EQ(after.entry_for("alice")->credentials.size(), 1u);
  EXPECT_NE(after.entry_for("alice")->credentials[0].key_handle_text, first_handle);
  devices_->unplug_all();
  devices_->plug_in(key_);
  EXPECT_EQ(login("alice").detail, u2f_detail::kNoCredential);  // the first key no longer works

  EXPECT_EQ(run({"remove", "alice", "--authfile", authfile_, "--key-handle", first_handle}), 1);
  EXPECT_EQ(run({"remove", "alice", "--authfile", authfile_, "--all"}), 0);
  const u2f::Authfile gone = u2f::parse_authfile(testing::read_text(authfile_));
  EXPECT_EQ(gone.entry_for("alice"), nullptr);
  ASSERT_NE(gone.entry_for("bob"), nullptr);
  EXPECT_EQ(gone.entry_for("bob")->credentials.size(), 1u);
}

// u2f reads its arguments as every authpolicy command does (cli/args.h): --help anywhere,
// --opt=VALUE, and usage errors worded "authpolicy u2f: why" followed by the usage.
TEST_F(U2fCommand, ReadsArgumentsLikeEveryCommand) {
  for (const char* help : {"--help", "-h"}) {
    EXPECT_EQ(run({"list", "alice", help}), 0) << help << err_.str();
    EXPECT_EQ(out_.str().rfind("usage: authpolicy u2f", 0), 0u) << out_.str();
    EXPECT_EQ(err_.str(), "");
  }
  ASSERT_EQ(run({"enroll", "alice", "--authfile=" + authfile_, "--origin=" + std::string(kOrigin),
                 "--timeout=5"}),
            0)
      << err_.str();
  EXPECT_EQ(login("alice").outcome, Outcome::pass);

  EXPECT_EQ(run({"list", "--colour"}), 2);
  EXPECT_EQ(err_.str().rfind("authpolicy u2f: unknown option --colour\nusage: authpolicy u2f", 0),
            0u)
      << err_.str();
  EXPECT_EQ(run({"enroll", "alice", "--timeout"}), 2);
  EXPECT_EQ(err_.str().rfind("authpolicy u2f: --timeout needs a value\nusage:", 0), 0u)
      << err_.str();
  EXPECT_EQ(run({"list", "--json=yes"}), 2);
  EXPECT_EQ(err_.str().rfind("authpolicy u2f: --json takes no value\n", 0), 0u) << err_.str();
  EXPECT_EQ(run({"enroll", "alice", "--timeout=0"}), 2);
  EXPECT_EQ(err_.str().rfind("authpolicy u2f: --timeout needs a positive number of seconds\n", 0),
            0u)
      << err_.str();
}

TEST_F(U2fCommand, UsageErrors) {
  EXPECT_EQ(run({}), 2);
  EXPECT_EQ(run({"frobnicate"}), 2);
  EXPECT_EQ(run({"remove", "alice", "--authfile", authfile_}), 2);  // neither --all nor a handle
  EXPECT_EQ(run({"remove", "alice", "--all", "--key-handle", "x"}), 2);
  EXPECT_EQ(run({"list", "--authfile", folder_.path() + "/%u"}), 2);
  EXPECT_EQ(run({"enroll", "al:ice", "--authfile", authfile_}), 2);
  EXPECT_EQ(run({"enroll", "alice", "--timeout", "soon"}), 2);
  EXPECT_NE(err_.str().find("usage:"), std::string::npos);
}

}  // namespace
}  // namespace authpolicy
