// enrolled(FACTOR) as the kits tell it (FactorKit::enrolment): real files in a private folder,
// opened through the same trust walk the providers use; and `authpolicy eval` answering
// enrolled() and date conditions from its flags or from the machine.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "engine/evaluate.h"
#include "engine/factor_kit.h"
#include "engine/system_subjects.h"
#include "tests/engine/test_support.h"

namespace authpolicy::test {
namespace {

using State = Enrolment::State;

Enrolment probe(std::string_view kind, const Settings& settings, std::string_view user) {
  const FactorKit* kit = find_factor_kit(kind);
  EXPECT_NE(kit, nullptr);
  EXPECT_NE(kit->enrolment.probe, nullptr) << kind << " must be able to tell enrolment";
  return kit->enrolment.probe(settings, user);
}

Settings with(std::initializer_list<std::pair<std::string, SettingValue>> values) {
  Settings settings;
  for (const auto& [key, value] : values) settings.set(key, value);
  return settings;
}

class Enrolments : public ::testing::Test {
 protected:
  void SetUp() override {
    // Runs as root, as CI does: the secret files must be root's. Not skipped elsewhere: failed.
    ASSERT_EQ(geteuid(), 0u) << "needs root: secret files must be root's";
  }
  TempDir dir_;
};

TEST_F(Enrolments, TotpSecretFileTellsEnrolledNoneOrUnknown) {
  const Settings settings = with({{"secrets", std::string(dir_.file("totp/%u"))}});
  mkdir(dir_.file("totp").c_str(), 0700);
  dir_.write("totp/alice", "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n", 0600);
  dir_.write("totp/mallory", "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n", 0644);
  EXPECT_EQ(probe("totp", settings, "alice").state, State::enrolled);
  EXPECT_EQ(probe("totp", settings, "bob").state, State::none) << "no file: certainly none";
  const Enrolment unsafe = probe("totp", settings, "mallory");
  EXPECT_EQ(unsafe.state, State::unknown) << "a file others can read is not told as either";
  EXPECT_NE(unsafe.detail.find("0644"), std::string::npos) << unsafe.detail;
  EXPECT_EQ(probe("totp", settings, "../alice").state, State::unknown);
  // A folder others may write into: nothing in it can be trusted, not even an absence.
  chmod(dir_.file("totp").c_str(), 0777);
  EXPECT_EQ(probe("totp", settings, "bob").state, State::unknown);
}

TEST_F(Enrolments, TotpOathUsersFileTellsByTheUsersLine) {
  const Settings settings = with({{"format", std::string("oath")},
                                  {"secrets", std::string(dir_.file("users.oath"))}});
  EXPECT_EQ(probe("totp", settings, "alice").state, State::none) << "no users file yet";
  dir_.write("users.oath",
             "# comment naming bob\nHOTP/T30/6 alice - 3132333435363738393031323334353637383930\n",
             0600);
  EXPECT_EQ(probe("totp", settings, "alice").state, State::enrolled);
  EXPECT_EQ(probe("totp", settings, "bob").state, State::none);
}

TEST_F(Enrolments, U2fAuthfileTellsByTheUsersLine) {
  const Settings settings = with({{"authfile", std::string(dir_.file("u2f_keys"))}});
  EXPECT_EQ(probe("u2f", settings, "alice").state, State::none) << "no authfile";
  dir_.write("u2f_keys", "alice:*,AAAA,es256,+presence\ncarol:\n", 0644);
  EXPECT_EQ(probe("u2f", settings, "alice").state, State::enrolled);
  EXPECT_EQ(probe("u2f", settings, "bob").state, State::none);
  EXPECT_EQ(probe("u2f", settings, "carol").state, State::none) << "a line with no credential";
  dir_.write("u2f_keys", "ssh-ed25519 AAAA not an authfile\n", 0644);
  EXPECT_EQ(probe("u2f", settings, "bob").state, State::unknown)
      << "a file the provider cannot read is not an absence";
  chmod(dir_.file("u2f_keys").c_str(), 0666);
  EXPECT_EQ(probe("u2f", settings, "alice").state, State::unknown);
}

TEST(EnrolmentKits, KindsThatCannotTellSayUnknown) {
  for (const char* kind : {"password", "fingerprint"}) {
    EXPECT_EQ(find_factor_kit(kind)->enrolment.probe, nullptr) << kind;
  }
  EXPECT_EQ(delegated_factor_kit().enrolment.probe, nullptr);
  for (const char* kind : {"password", "fingerprint"}) {
    EXPECT_FALSE(tells_enrolment(find_factor_kit(kind)->enrolment)) << kind;
  }
  EXPECT_FALSE(tells_enrolment(delegated_factor_kit().enrolment));
}

// pin's store is the TPM: its plugin tells (tests/tpm, tests/pam/pin_enrolled_test.cpp), never
// the kits library, which pam_policy.so links without tpm2-tss.
TEST(EnrolmentKits, PinIsToldByItsPlugin) {
  const FactorKit* pin = find_factor_kit("pin");
  ASSERT_NE(pin, nullptr);
  EXPECT_EQ(pin->enrolment.probe, nullptr);
  EXPECT_TRUE(pin->enrolment.plugin);
  EXPECT_TRUE(tells_enrolment(pin->enrolment));
  // Without a reader (a program that links no pin support) enrolled(pin) is unknown, with why.
  FactorSpec spec;
  spec.name = "pin";
  spec.kit = pin;
  const Enrolment without = read_enrolment(spec, "root", nullptr);
  EXPECT_EQ(without.state, Enrolment::State::unknown);
  EXPECT_NE(without.detail.find("cannot reach its enrolment store"), std::string::npos)
      << without.detail;
  const Enrolment with = read_enrolment(spec, "root", [](const FactorSpec&, const std::string&) {
    return Enrolment{Enrolment::State::none, "told"};
  });
  EXPECT_EQ(with.state, Enrolment::State::none);
}

TEST(EvalEnrolled, FlagsAnswerEnrolledAndTheDateComesFromAt) {
  TempDir dir;
  dir.write("rollout.pol",
            "auth password && (totp if (enrolled(totp) || date >= 2027-01-15))\n");
  auto eval = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"eval", "--ignore-ownership", "rollout.pol", "--user",
                                     "alice", "--factor", "password=pass"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args, dir.path());
  };
  const RunResult before = eval({"--enrolled", "totp=no", "--at", "2027-01-14T23:59"});
  EXPECT_EQ(before.exit_code, 0) << before.out;
  const RunResult on = eval({"--enrolled", "totp=no", "--at", "2027-01-15T00:00"});
  EXPECT_EQ(on.exit_code, 1) << "from the deadline day the code is required\n" << on.out;
  const RunResult enrolled = eval({"--enrolled", "totp=yes", "--at", "2026-12-01T10:00"});
  EXPECT_EQ(enrolled.exit_code, 1) << "an enrolled user is asked the code\n" << enrolled.out;
  const RunResult unknown = eval({"--enrolled", "totp=unknown", "--at", "2026-12-01T10:00"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out;
  EXPECT_NE(unknown.out.find("enrolled(totp)"), std::string::npos) << unknown.out;
  const RunResult bad = eval({"--enrolled", "totp=maybe"});
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
}

}  // namespace
}  // namespace authpolicy::test
