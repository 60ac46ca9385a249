// `authpolicy status` names the users who will be refused for want of an enrolment, and from
// which day: on a machine (a private view of /etc: its own password database) with three users,
// alice enrolled in totp, bob not, carol not allowed by the policy at all, it names exactly bob,
// with the policy's deadline. Real files, the real CLI, the real name service (files).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/secret.h"
#include "factors/tpm/pin_store.h"
#include "tests/support/private_system_view_environment.h"
#include "tests/support/temp_folder.h"
#include "tests/tpm/swtpm_fixture.h"

namespace {

using authpolicy::test_support::TempFolder;

[[maybe_unused]] ::testing::Environment* const kPrivateSystemView =
    authpolicy::test_support::private_system_view_before_the_first_test();

void write(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path, std::ios::trunc) << text;
  chmod(path.c_str(), mode);
}

std::pair<int, std::string> run(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, ""};
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) {
    output.append(buffer.data(), n);
  }
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The local date `days` days from now, as a policy writes it.
std::string local_date(int days) {
  const std::time_t at = std::time(nullptr) + static_cast<std::time_t>(days) * 86400;
  std::tm parts{};
  localtime_r(&at, &parts);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &parts);
  return text;
}

class StatusEnrolment : public ::testing::Test {
 protected:
  void SetUp() override {
    // This view's name service: root and three people, nobody from the host.
    write("/etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\n");
    write("/etc/passwd",
          "root:x:0:0:root:/root:/bin/bash\n"
          "alice:x:2001:2001::/home/alice:/bin/bash\n"
          "bob:x:2002:2002::/home/bob:/bin/bash\n"
          "carol:x:2003:2003::/home/carol:/bin/bash\n");
    write("/etc/group", "root:x:0:\nalice:x:2001:\nbob:x:2002:\ncarol:x:2003:\nstaff:x:3000:alice,bob\n");
    mkdir(dir_.file("pam.d").c_str(), 0755);
    mkdir(dir_.file("policies").c_str(), 0755);
    mkdir(dir_.file("totp").c_str(), 0700);
    write(dir_.file("pam.d/sudo"), "auth required pam_policy.so\naccount required pam_policy.so\n");
    write(dir_.file("totp/alice"), "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n", 0600);
  }

  void write_policy(const std::string& condition) {
    write(dir_.file("policies/sudo.pol"),
          "factor totp { secrets = \"" + dir_.file("totp/%u") + "\" }\n" +
              "audit { db = \"" + dir_.file("audit.db") + "\" }\n" +
              "deny if !(user in group(\"staff\"))\n" +
              "auth password && (totp if " + condition + ")\n");
  }

  std::pair<int, std::string> status(bool json) const {
    return run(std::string(AP_TEST_AUTHPOLICY) + " status --pam-dir " + dir_.file("pam.d") +
               " --policy-dir " + dir_.file("policies") + (json ? " --json" : ""));
  }

  static nlohmann::json sudo_row(const std::string& output) {
    const auto report = nlohmann::json::parse(output.substr(output.find('{')));
    for (const auto& row : report.at("services")) {
      if (row.at("service") == "sudo") return row;
    }
    return nullptr;
  }

  TempFolder dir_{"ap-status-enrolment"};
};

TEST_F(StatusEnrolment, NamesExactlyTheUserWhoHasNotEnrolledWithTheDeadline) {
  const std::string deadline = local_date(30);
  write_policy("(enrolled(totp) || date >= " + deadline + ")");
  const auto [code, output] = status(true);
  const nlohmann::json row = sudo_row(output);
  ASSERT_FALSE(row.is_null()) << output;
  ASSERT_TRUE(row.contains("not_enrolled")) << output;
  const auto& users = row.at("not_enrolled");
  ASSERT_EQ(users.size(), 1u) << "alice is enrolled and carol is not allowed: " << users.dump(1);
  EXPECT_EQ(users[0].at("user"), "bob");
  EXPECT_EQ(users[0].at("refused_from"), deadline);
  EXPECT_EQ(users[0].at("refused_now"), false);
  EXPECT_EQ(users[0].at("missing")[0].at("factor"), "totp");
  EXPECT_EQ(users[0].at("missing")[0].at("enrolment"), "none");

  const auto [text_code, text] = status(false);
  EXPECT_NE(text.find("not enrolled: bob lacks totp"), std::string::npos) << text;
  EXPECT_NE(text.find("refused from " + deadline), std::string::npos) << text;
  EXPECT_EQ(text.find("not enrolled: alice"), std::string::npos) << text;
  EXPECT_EQ(text.find("not enrolled: carol"), std::string::npos) << text;
  EXPECT_EQ(code, text_code);
}

TEST_F(StatusEnrolment, WithoutADeadlineNobodyIsRefusedAndWithAPassedOneBobIsRefusedNow) {
  write_policy("enrolled(totp)");
  EXPECT_EQ(sudo_row(status(true).second).at("not_enrolled").size(), 0u)
      << "bob logs in with the password alone: nothing he needs is missing";
  write_policy("(enrolled(totp) || date >= " + local_date(-1) + ")");
  const auto users = sudo_row(status(true).second).at("not_enrolled");
  ASSERT_EQ(users.size(), 1u) << users.dump(1);
  EXPECT_EQ(users[0].at("user"), "bob");
  EXPECT_EQ(users[0].at("refused_now"), true);
}

TEST_F(StatusEnrolment, AnUnsafeSecretFileIsListedAsUnknown) {
  write_policy("(enrolled(totp) || date >= " + local_date(30) + ")");
  write(dir_.file("totp/bob"), "JBSWY3DPEHPK3PXP\n", 0644);
  const auto users = sudo_row(status(true).second).at("not_enrolled");
  ASSERT_EQ(users.size(), 1u) << users.dump(1);
  EXPECT_EQ(users[0].at("user"), "bob");
  EXPECT_EQ(users[0].at("refused_now"), true) << "an unsafe file refuses him today";
  EXPECT_EQ(users[0].at("missing")[0].at("enrolment"), "unknown");
}

// A factor needed only in some circumstances: from the office network, at night, after failed
// attempts. status tries every class of request the policy's conditions tell apart, so bob (not
// enrolled, totp required right away) is named in each; a local login at noon alone needs no code.
TEST_F(StatusEnrolment, AFactorNeededOnlyInSomeCircumstancesStillNamesTheUser) {
  for (const std::string condition :
       {"rhost in office", "time in 22:00..06:00", "failures(1h) >= 3", "!recent(password, 8h)"}) {
    write(dir_.file("policies/sudo.pol"),
          "factor totp { secrets = \"" + dir_.file("totp/%u") + "\" }\n" +
              "audit { db = \"" + dir_.file("audit.db") + "\" }\n" +
              "set office = { 10.20.0.0/16 }\n" +
              "deny if !(user in group(\"staff\"))\n" +
              "auth password && (totp if " + condition + ")\n");
    const auto users = sudo_row(status(true).second).at("not_enrolled");
    ASSERT_EQ(users.size(), 1u) << condition << ": " << users.dump(1);
    EXPECT_EQ(users[0].at("user"), "bob") << condition;
    EXPECT_EQ(users[0].at("refused_now"), true) << condition;
  }
}

// The same three users with a TPM PIN: alice has a PIN index in the TPM (swtpm), bob has none.
// status reads the TPM itself, so it names bob; with the TPM gone nobody's enrolment can be told,
// and both alice and bob are refused today.
TEST_F(StatusEnrolment, ThePinEnrolmentIsReadFromTheTpm) {
  authpolicy::testing::Swtpm swtpm;
  authpolicy::tpm::TpmConfig config;
  config.tcti = swtpm.tcti();
  authpolicy::tpm::PinStore store(config);
  ASSERT_EQ(store.setup(2001, authpolicy::SecretString("482916"), 3).result,
            authpolicy::tpm::SetupResult::created);
  const std::string deadline = local_date(30);
  write(dir_.file("policies/sudo.pol"),
        "tpm { tcti = \"" + swtpm.tcti() + "\" }\n" + "audit { db = \"" + dir_.file("audit.db") +
            "\" }\n" + "deny if !(user in group(\"staff\"))\n" +
            "auth password && (pin if (enrolled(pin) || date >= " + deadline + "))\n");
  const auto users = sudo_row(status(true).second).at("not_enrolled");
  ASSERT_EQ(users.size(), 1u) << "alice has a PIN and carol is not allowed: " << users.dump(1);
  EXPECT_EQ(users[0].at("user"), "bob");
  EXPECT_EQ(users[0].at("refused_from"), deadline);
  EXPECT_EQ(users[0].at("missing")[0].at("factor"), "pin");
  EXPECT_EQ(users[0].at("missing")[0].at("enrolment"), "none");
  EXPECT_EQ(users[0].at("missing")[0].at("detail"), "no PIN index 0x010007d2 in the TPM");
  EXPECT_EQ(store.status(2001).counter->used, 0u) << "status spends no PIN attempt";

  swtpm.kill();
  const auto unknown = sudo_row(status(true).second).at("not_enrolled");
  ASSERT_EQ(unknown.size(), 2u) << unknown.dump(1);
  EXPECT_EQ(unknown[0].at("user"), "alice");
  EXPECT_EQ(unknown[1].at("user"), "bob");
  for (const auto& user : unknown) {
    EXPECT_EQ(user.at("refused_now"), true) << user.dump(1);
    EXPECT_EQ(user.at("missing")[0].at("enrolment"), "unknown") << user.dump(1);
  }
}

}  // namespace
