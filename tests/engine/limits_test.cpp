// Bad input never crashes or hangs: size limit, nesting, NUL, invalid UTF-8, include depth and
// cycles, very long names, huge sets.
#include <gtest/gtest.h>

#include "test_support.h"

namespace authpolicy::test {
namespace {

bool has_code(const LoadResult& r, const std::string& code) {
  for (const auto& d : r.diagnostics) {
    if (d.code == code) return true;
  }
  return false;
}

std::string messages(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.code + ": " + d.message + "\n";
  return out;
}

TEST(Limits, OverOneMebibyteIsRefusedClearly) {
  std::string text = "auth password\n" + std::string(1024 * 1024, '#');
  const LoadResult r = load_text(text);
  EXPECT_FALSE(r.policy);
  EXPECT_NE(messages(r).find("the limit is 1 MiB"), std::string::npos) << messages(r);
}

TEST(Limits, OverOneMebibyteFileIsRefused) {
  TempDir dir;
  const std::string path = dir.write("big.pol", "auth password\n" + std::string(1024 * 1024 + 10, '#'));
  LoadOptions options;
  options.check_ownership = false;
  const LoadResult r = load_policy_file(path, options);
  EXPECT_FALSE(r.policy);
  EXPECT_NE(messages(r).find("1 MiB"), std::string::npos) << messages(r);
}

TEST(Limits, HundredThousandNestedParentheses) {
  const std::string text = "auth " + std::string(100000, '(') + "password" + std::string(100000, ')');
  const LoadResult r = load_text(text);
  EXPECT_FALSE(r.policy);
  EXPECT_NE(messages(r).find("nesting deeper than 64"), std::string::npos) << messages(r);
}

TEST(Limits, HundredThousandNegations) {
  const std::string text = "deny if " + std::string(100000, '!') + "(user in { x })\nauth password";
  const LoadResult r = load_text(text);
  EXPECT_FALSE(r.policy);
  EXPECT_TRUE(has_code(r, "E001"));
}

TEST(Limits, LongChainsAreFlatNotDeep) {
  std::string text = "auth password";
  for (int i = 0; i < 20000; ++i) text += " || password";
  const LoadResult r = load_text(text);
  EXPECT_TRUE(r.policy) << messages(r).substr(0, 300);
}

TEST(Limits, ManyGuardsAreFlatNotDeep) {
  std::string text = "auth password && totp";
  for (int i = 0; i < 20000; ++i) text += " unless rhost is local";
  const LoadResult r = load_text(text);
  EXPECT_TRUE(r.policy);  // password is always asked, so the waived totp opens nothing
  EXPECT_FALSE(has_code(r, "E000")) << messages(r).substr(0, 300);
}

TEST(Limits, NulByteIsRefused) {
  const std::string text = std::string("auth pass") + '\0' + "word\n";
  const LoadResult r = load_text(text);
  EXPECT_FALSE(r.policy);
  EXPECT_NE(messages(r).find("NUL byte"), std::string::npos);
}

TEST(Limits, InvalidUtf8IsRefused) {
  for (const std::string& bad : {std::string("set s = { \"\xff\" }\nauth password"),
                                std::string("# \xc0\xaf overlong\nauth password"),
                                std::string("auth password # \xed\xa0\x80 surrogate"),
                                std::string("auth password # truncated \xe2\x82")}) {
    const LoadResult r = load_text(bad);
    EXPECT_FALSE(r.policy);
    EXPECT_NE(messages(r).find("invalid UTF-8"), std::string::npos) << messages(r);
  }
  EXPECT_TRUE(load_text("# caf\xc3\xa9 \xe2\x9c\x93\nauth password").policy);
}

TEST(Limits, VeryLongIdentifier) {
  const std::string name(100000, 'a');
  const LoadResult r = load_text("auth " + name);
  EXPECT_FALSE(r.policy);
  EXPECT_NE(messages(r).find("longer than 128"), std::string::npos);
}

TEST(Limits, IncludeDepthIsBounded) {
  TempDir dir;
  for (int i = 0; i < 30; ++i) {
    dir.write("level" + std::to_string(i) + ".inc",
              "include \"level" + std::to_string(i + 1) + ".inc\"\n");
  }
  dir.write("level30.inc", "set deep = { alice }\n");
  const std::string main = dir.write("main.pol", "include \"level0.inc\"\nauth password\n");
  LoadOptions options;
  options.check_ownership = false;
  const LoadResult r = load_policy_file(main, options);
  EXPECT_FALSE(r.policy);
  EXPECT_TRUE(has_code(r, "E023")) << messages(r);
}

TEST(Limits, SelfIncludeIsACycle) {
  TempDir dir;
  const std::string main = dir.write("self.pol", "include \"self.pol\"\nauth password\n");
  LoadOptions options;
  options.check_ownership = false;
  const LoadResult r = load_policy_file(main, options);
  EXPECT_FALSE(r.policy);
  EXPECT_TRUE(has_code(r, "E014"));
}

TEST(Limits, DiamondIncludeIsIncludedOnce) {
  TempDir dir;
  dir.write("common.inc", "set trusted = { 10.0.0.0/8 }\n");
  dir.write("a.inc", "include \"common.inc\"\n");
  dir.write("b.inc", "include \"common.inc\"\n");
  const std::string main = dir.write(
      "main.pol", "include \"a.inc\"\ninclude \"b.inc\"\nauth password && totp unless rhost in trusted\n");
  LoadOptions options;
  options.check_ownership = false;
  const LoadResult r = load_policy_file(main, options);
  EXPECT_TRUE(r.policy) << messages(r);
}

TEST(Limits, MissingTopLevelFileIsUnreadable) {
  const LoadResult r = load_policy_file("/nonexistent/policy.pol", {});
  EXPECT_TRUE(r.unreadable);
  EXPECT_FALSE(r.policy);
}

TEST(Limits, SetNearTheSizeLimitChecks) {
  std::string text = "set big = { ";
  for (int i = 0; i < 60000; ++i) {
    text += std::to_string(10 + i / 65536 % 200) + "." + std::to_string(i / 256 % 256) + "." +
            std::to_string(i % 256) + ".0/24, ";
  }
  text += "192.0.2.0/24 }\nauth password && totp unless rhost in big\n";
  const LoadResult r = load_text(text);
  EXPECT_FALSE(r.has_errors()) << messages(r).substr(0, 300);
}

}  // namespace
}  // namespace authpolicy::test
