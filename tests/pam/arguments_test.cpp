// Module arguments, policy paths, refused user names and syslog values (pure functions).
#include "pam/arguments.h"

#include <gtest/gtest.h>

namespace authpolicy::pam_front {
namespace {

std::optional<ModuleArguments> parse(std::vector<const char*> argv, std::string* error) {
  return parse_arguments(static_cast<int>(argv.size()), argv.data(), error);
}

TEST(ModuleArguments, KnownArguments) {
  std::string error;
  auto a = parse({"policy=/etc/authpolicy/x.pol", "debug", "missing=ignore"}, &error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->policy, "/etc/authpolicy/x.pol");
  EXPECT_TRUE(a->debug);
  EXPECT_TRUE(a->missing_ignore);
  a = parse({"missing=ignore", "missing=fail"}, &error);
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->missing_ignore);
}

TEST(ModuleArguments, AnythingElseIsRefused) {
  for (const char* bad : {"mising=ignore", "missing=", "policy=", "DEBUG", "", "policy"}) {
    std::string error;
    EXPECT_FALSE(parse({bad}, &error)) << bad;
    EXPECT_NE(error.find("unknown module argument"), std::string::npos);
  }
}

TEST(PolicyPath, ServiceNameChoosesTheFile) {
  std::string error;
  EXPECT_EQ(policy_path_for({}, "sudo", &error, "/etc/authpolicy"), "/etc/authpolicy/sudo.pol");
  ModuleArguments with_policy;
  with_policy.policy = "/srv/p.pol";
  EXPECT_EQ(policy_path_for(with_policy, "../x", &error), "/srv/p.pol");
}

TEST(PolicyPath, NamesThatLeaveTheFolderAreRefused) {
  for (std::string_view bad :
       {std::string_view("../shadow"), std::string_view("a/b"), std::string_view(".hidden"),
        std::string_view(""), std::string_view("sudo\n"), std::string_view("a\0b", 3)}) {
    std::string error;
    EXPECT_EQ(policy_path_for({}, bad, &error), std::nullopt) << bad;
    EXPECT_NE(error.find("refused"), std::string::npos);
  }
  std::string error;
  EXPECT_EQ(policy_path_for({}, std::string(300, 's'), &error), std::nullopt);
}

TEST(UserNames, HostileNamesAreRefused) {
  EXPECT_EQ(refused_user_reason("alice"), std::nullopt);
  EXPECT_EQ(refused_user_reason("alice.smith-2@EXAMPLE.COM"), std::nullopt);
  for (std::string_view bad : {"", ".", "..", "../root", "a/b", "al\nice", "alice:0", "\x1b[31m"}) {
    EXPECT_NE(refused_user_reason(bad).value_or(""), "") << bad;
  }
  EXPECT_NE(refused_user_reason(std::string(64 * 1024, 'a')).value_or(""), "");
  EXPECT_EQ(refused_user_reason(std::string(256, 'a')), std::nullopt);
}

TEST(LogValue, PrintableQuotedAndCut) {
  EXPECT_EQ(log_value("alice"), "alice");
  EXPECT_EQ(log_value(""), "\"\"");
  EXPECT_EQ(log_value("a b"), "\"a b\"");
  EXPECT_EQ(log_value("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(log_value("l1\nl2"), "l1\\x0al2");
  EXPECT_EQ(log_value("caf\xc3\xa9"), "caf\\xc3\\xa9");
  EXPECT_EQ(log_value(std::string(10, 'x'), 4), "xxxx...");
}

}  // namespace
}  // namespace authpolicy::pam_front
