// The u2f factor end to end: libfido2's real code against the software stand-in key.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

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
namespace d = u2f_detail;

// One line for the user with the given credentials in the current format.
std::string line_for(const std::string& user, const std::vector<std::string>& fields) {
  std::string line = user + ":";
  for (std::size_t i = 0; i < fields.size(); ++i) line += (i ? ":" : "") + fields[i];
  return line + "\n";
}

std::string field(const SoftFidoAuthenticator::MadeCredential& made, bool resident = false,
                  const std::string& attributes = "+presence") {
  return (resident ? std::string("*") : u2f::base64_encode(made.id)) + "," +
         u2f::base64_encode(made.public_key) + ",es256," + attributes;
}

class U2fFactor : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = SoftFidoAuthenticator::create();
    devices_ = std::make_shared<SoftFidoDeviceSource>();
    devices_->plug_in(key_);
    settings_ = testing::u2f_settings(folder_.file("u2f_keys"));
    settings_.set("timeout", std::chrono::seconds(5));
    request_.user = "alice";
    request_.service = "sudo";
  }

  void write_authfile(const std::string& text, mode_t mode = 0644) {
    folder_.write("u2f_keys", text, mode);
  }

  FactorResult authenticate() {
    auto provider = make_u2f_provider(settings_, devices_);
    return provider->authenticate(request_, conversation_);
  }

  TempFolder folder_;
  std::shared_ptr<SoftFidoAuthenticator> key_;
  std::shared_ptr<SoftFidoDeviceSource> devices_;
  Settings settings_;
  FactorRequest request_;
  ScriptedConversation conversation_;
};

TEST_F(U2fFactor, GoodAssertionPassesAfterTheCue) {
  const auto made = key_->add_credential(kOrigin, false);
  write_authfile(line_for("bob", {field(key_->add_credential(kOrigin, false))}) +
                 line_for("alice", {field(made)}));
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::pass) << r.detail;
  EXPECT_EQ(conversation_.infos, std::vector<std::string>{"Touch your security key"});
  EXPECT_TRUE(conversation_.prompts.empty());  // no PIN for a +presence credential
  const auto counters = key_->counters();
  EXPECT_GE(counters.silent_assertions, 1);  // it looked before it asked
  EXPECT_EQ(counters.touched_assertions, 1);
}

TEST_F(U2fFactor, CueSettingIsShown) {
  settings_.set("cue", std::string("Tap the key"));
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false))}));
  EXPECT_EQ(authenticate().outcome, Outcome::pass);
  EXPECT_EQ(conversation_.infos, std::vector<std::string>{"Tap the key"});
}

TEST_F(U2fFactor, WrongStoredKeyIsABadSignature) {
  const auto made = key_->add_credential(kOrigin, false);
  const auto other = key_->add_credential(kOrigin, false);
  // The key holds the handle, but the authfile pairs it with another credential's public key.
  auto tampered = made;
  tampered.public_key = other.public_key;
  write_authfile(line_for("alice", {field(tampered)}));
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::fail);
  EXPECT_EQ(r.detail, d::kBadSignature);
}

TEST_F(U2fFactor, NoTouchWithinTimeoutFailsAndCancelsTheKey) {
  settings_.set("timeout", std::chrono::seconds(1));
  key_->finger().never_touch();
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false))}));
  const auto start = std::chrono::steady_clock::now();
  const FactorResult r = authenticate();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.outcome, Outcome::fail);
  EXPECT_EQ(r.detail, d::kTimeout);
  EXPECT_GE(took, 1s);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(conversation_.infos.size(), 1u);  // the cue was shown, then nothing came
  EXPECT_EQ(key_->counters().cancels, 1);     // the key stopped waiting too
}

TEST_F(U2fFactor, ALateTouchWithinTimeoutPasses) {
  key_->finger().touch_after(400ms);
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false))}));
  EXPECT_EQ(authenticate().outcome, Outcome::pass);
}

TEST_F(U2fFactor, WaitForTouchCanBeCancelled) {
  key_->finger().never_touch();
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false))}));
  auto provider =
      std::make_unique<U2fFactorProvider>(u2f_options_from_settings(settings_), devices_);
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    provider->cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  const FactorResult r = provider->authenticate(request_, conversation_);
  canceller.join();
  EXPECT_EQ(r.outcome, Outcome::fail);
  EXPECT_EQ(r.detail, d::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(U2fFactor, NoDeviceIsUnavailableAfterDetect) {
  devices_->unplug_all();
  settings_.set("detect", std::chrono::seconds(1));
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false))}));
  const auto start = std::chrono::steady_clock::now();
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::unavailable);
  EXPECT_EQ(r.detail, d::kNoDevice);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(conversation_.events.empty());  // nothing was asked or shown
}

TEST_F(U2fFactor, KeyPluggedInDuringDetectIsUsed) {
  devices_->unplug_all();
  devices_->plug_in_after(key_, 300ms);
  settings_.set("detect", std::chrono::seconds(2));
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false))}));
  EXPECT_EQ(authenticate().outcome, Outcome::pass);
}

TEST_F(U2fFactor, CredentialNotRegisteredIsUnavailableWithoutACue) {
  auto other_key = SoftFidoAuthenticator::create();
  write_authfile(line_for("alice", {field(other_key->add_credential(kOrigin, false))}) +
                 line_for("bob", {field(key_->add_credential(kOrigin, false))}));
  FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::unavailable);
  EXPECT_EQ(r.detail, d::kNoCredential);
  EXPECT_TRUE(conversation_.events.empty());

  request_.user = "carol";  // no line at all
  r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::unavailable);
  EXPECT_EQ(r.detail, d::kNoCredential);

  // A credential for another relying party does not count either.
  write_authfile(line_for("alice", {field(key_->add_credential("pam://elsewhere", false))}));
  request_.user = "alice";
  EXPECT_EQ(authenticate().detail, d::kNoCredential);
  EXPECT_EQ(key_->counters().touched_assertions, 0);
}

TEST_F(U2fFactor, KeyWithPinRightPinPasses) {
  key_->set_pin("4321");
  write_authfile(
      line_for("alice", {field(key_->add_credential(kOrigin, false), false, "+presence+pin")}));
  conversation_.secrets = {"4321"};
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::pass) << r.detail;
  EXPECT_EQ(conversation_.events, (std::vector<std::string>{"prompt:Security key PIN: ",
                                                            "info:Touch your security key"}));
}

TEST_F(U2fFactor, KeyWithPinWrongPinFails) {
  key_->set_pin("4321");
  write_authfile(
      line_for("alice", {field(key_->add_credential(kOrigin, false), false, "+presence+pin")}));
  conversation_.secrets = {"1111"};
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::fail);
  EXPECT_EQ(r.detail, d::kWrongKeyPin);
  EXPECT_EQ(key_->pin_retries(), 7);
  EXPECT_EQ(key_->counters().touched_assertions, 0);
  EXPECT_EQ(conversation_.errors.size(), 1u);
}

TEST_F(U2fFactor, PinCredentialOnAKeyWithoutPinFails) {
  write_authfile(
      line_for("alice", {field(key_->add_credential(kOrigin, false), false, "+presence+pin")}));
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::fail);
  EXPECT_TRUE(conversation_.prompts.empty());
}

TEST_F(U2fFactor, VerificationCredentialUsesThePinOnAPinOnlyKey) {
  key_->set_pin("4321");
  write_authfile(line_for(
      "alice", {field(key_->add_credential(kOrigin, false), false, "+presence+verification")}));
  conversation_.secrets = {"4321"};
  EXPECT_EQ(authenticate().outcome, Outcome::pass);
  EXPECT_EQ(conversation_.prompts.size(), 1u);
}

TEST_F(U2fFactor, OldFormatLinePasses) {
  const auto made = key_->add_credential(kOrigin, false);
  u2f::Bytes point{0x04};
  point.insert(point.end(), made.public_key.begin(), made.public_key.end());
  write_authfile("alice:" + u2f::base64url_encode(made.id) + "," + u2f::hex_encode(point) + "\n");
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::pass) << r.detail;
}

TEST_F(U2fFactor, OldFormatLineUsesTheAppid) {
  settings_.set("appid", std::string("pam://old-name"));
  const auto made = key_->add_credential("pam://old-name", false);
  u2f::Bytes point{0x04};
  point.insert(point.end(), made.public_key.begin(), made.public_key.end());
  write_authfile("alice:" + u2f::base64url_encode(made.id) + "," + u2f::hex_encode(point) + "\n");
  EXPECT_EQ(authenticate().outcome, Outcome::pass);
}

TEST_F(U2fFactor, ResidentStarCredentialPasses) {
  const auto made = key_->add_credential(kOrigin, true);
  write_authfile(line_for("alice", {field(made, true)}));
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::pass) << r.detail;
  EXPECT_EQ(r.detail, "credential *");
}

TEST_F(U2fFactor, ResidentStarWithAnotherKeysPublicKeyIsABadSignature) {
  key_->add_credential(kOrigin, true);
  auto other = SoftFidoAuthenticator::create()->add_credential(kOrigin, true);
  write_authfile(line_for("alice", {field(other, true)}));
  EXPECT_EQ(authenticate().detail, d::kBadSignature);
}

TEST_F(U2fFactor, NoPresenceCredentialStillNeedsATouchUnlessSettingsSayOtherwise) {
  key_->finger().never_touch();
  settings_.set("timeout", std::chrono::seconds(1));
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false), false, "")}));
  EXPECT_EQ(authenticate().detail, d::kTimeout);

  settings_.set("presence", false);
  conversation_ = {};
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::pass) << r.detail;
  EXPECT_TRUE(conversation_.infos.empty());  // no touch wanted, so no cue
}

TEST_F(U2fFactor, MalformedLineIsAnErrorNamingItAndOtherUsersStillPass) {
  write_authfile(line_for("bob", {field(key_->add_credential(kOrigin, false))}) +
                 "alice:AAAA,BBBB,es256,+presence\n");
  FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::error);
  EXPECT_NE(r.detail.find("line 2"), std::string::npos) << r.detail;
  EXPECT_TRUE(conversation_.events.empty());

  request_.user = "bob";
  r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::pass) << r.detail;
}

TEST_F(U2fFactor, AnOpenSshKeyFileIsAnErrorNotAnEmptyAuthfile) {
  std::ifstream in(std::string(AP_U2F_FIXTURES) + "/ssh_credential.cred.in");
  write_authfile(std::string(std::istreambuf_iterator<char>(in), {}));
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::error);
  EXPECT_NE(r.detail.find("OpenSSH"), std::string::npos) << r.detail;
}

TEST_F(U2fFactor, UnsafeAuthfileIsAnError) {
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false))}), 0666);
  FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::error);
  EXPECT_NE(r.detail.find("writable by others"), std::string::npos) << r.detail;

  ASSERT_EQ(::chmod(folder_.file("u2f_keys").c_str(), 0644), 0);
  ASSERT_EQ(::chown(folder_.file("u2f_keys").c_str(), 4321, 4321), 0) << "run as root";
  r = authenticate();  // alice (unknown here, or a different uid) does not own it
  EXPECT_EQ(r.outcome, Outcome::error);
  EXPECT_NE(r.detail.find("owned by uid 4321"), std::string::npos) << r.detail;
  EXPECT_EQ(key_->counters().silent_assertions, 0);
}

TEST_F(U2fFactor, MissingAuthfileMeansNoCredential) {
  const FactorResult r = authenticate();
  EXPECT_EQ(r.outcome, Outcome::unavailable);
  EXPECT_TRUE(r.detail.starts_with(d::kNoCredential));
}

TEST_F(U2fFactor, PerUserAuthfileFromPercentU) {
  settings_.set("authfile", folder_.file("%u.keys"));
  folder_.write("alice.keys", line_for("alice", {field(key_->add_credential(kOrigin, false))}));
  EXPECT_EQ(authenticate().outcome, Outcome::pass);
  request_.user = "../alice";
  EXPECT_EQ(authenticate().outcome, Outcome::error);
}

TEST_F(U2fFactor, RemoteRequestIsUnavailableUnlessAllowed) {
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false))}));
  request_.rhost = "203.0.113.9";
  request_.remote = true;
  auto provider = make_u2f_provider(settings_, devices_);
  const auto probed = provider->probe(request_);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::unavailable);
  EXPECT_EQ(probed->detail, d::kRemote);
  const FactorResult r = provider->authenticate(request_, conversation_);
  EXPECT_EQ(r.outcome, Outcome::unavailable);
  EXPECT_EQ(r.detail, d::kRemote);
  EXPECT_TRUE(conversation_.events.empty());
  EXPECT_EQ(key_->counters().silent_assertions, 0);  // the key was never even asked

  settings_.set("remote", true);
  EXPECT_EQ(authenticate().outcome, Outcome::pass);
}

TEST_F(U2fFactor, ProbeFindsTheKeyWithoutTouchOrPrompt) {
  write_authfile(line_for("alice", {field(key_->add_credential(kOrigin, false))}));
  auto provider = make_u2f_provider(settings_, devices_);
  EXPECT_FALSE(provider->probe(request_));
  request_.user = "nobody";
  const auto none = provider->probe(request_);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->detail, d::kNoCredential);
  EXPECT_EQ(key_->counters().touched_assertions, 0);
}

TEST_F(U2fFactor, SecondCredentialOnTheLineIsFound) {
  auto other_key = SoftFidoAuthenticator::create();
  write_authfile(line_for("alice", {field(other_key->add_credential(kOrigin, false)),
                                    field(key_->add_credential(kOrigin, false))}));
  EXPECT_EQ(authenticate().outcome, Outcome::pass);
}

TEST(U2fSettings, DefaultsAndKeys) {
  const U2fOptions defaults = u2f_options_from_settings(Settings{});
  EXPECT_EQ(defaults.authfile, "/etc/authpolicy/u2f_keys");
  EXPECT_EQ(defaults.origin, default_u2f_origin());
  EXPECT_TRUE(defaults.origin.starts_with("pam://"));
  EXPECT_EQ(defaults.appid, defaults.origin);
  EXPECT_EQ(defaults.timeout, 15s);
  EXPECT_EQ(defaults.detect, 3s);
  EXPECT_EQ(defaults.cue, "Touch your security key");
  EXPECT_FALSE(defaults.remote);
  EXPECT_TRUE(defaults.require_presence);
  EXPECT_FALSE(defaults.require_pin);
  EXPECT_FALSE(defaults.require_verification);

  Settings s;
  s.set("origin", std::string("pam://fixed"));
  EXPECT_EQ(u2f_options_from_settings(s).appid, "pam://fixed");
}

}  // namespace
}  // namespace authpolicy
