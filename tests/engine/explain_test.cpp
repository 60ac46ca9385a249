// `authpolicy explain` says, situation by situation, which factor combinations are accepted.
#include <gtest/gtest.h>

#include "engine/analysis.h"
#include "test_support.h"

namespace authpolicy::test {
namespace {

TEST(Explain, DesignCardBySituation) {
  TempDir dir;
  const std::string file = dir.write(
      "card.pol",
      "set trusted = { 10.0.0.0/8 }\nfactor u2f { origin = \"pam://ws\" }\n"
      "auth password && (pin || u2f) unless rhost in trusted\n");
  const RunResult r = run_cli({"explain", "--ignore-ownership", file});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("rhost in trusted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("      password\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("password + pin, or password + u2f"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("otherwise:"), std::string::npos) << r.out;
}

TEST(Explain, DeniedSituationsComeFirst) {
  TempDir dir;
  const std::string file = dir.write(
      "geo.pol", "deny if rhost.country in { \"KP\" }\nauth password\n");
  const RunResult r = run_cli({"explain", "--ignore-ownership", file});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("denied before anything is asked"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rhost.country in { \"KP\" }"), std::string::npos) << r.out;
}

TEST(Explain, BrokenPolicyIsRefused) {
  TempDir dir;
  const std::string file = dir.write("bad.pol", "auth passwrd\n");
  const RunResult r = run_cli({"explain", "--ignore-ownership", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("E002"), std::string::npos) << r.out;
}

TEST(Explain, RowsListMinimalCombinations) {
  const LoadResult loaded = load_text("auth 2 of (password, pin, totp)");
  ASSERT_TRUE(loaded.policy);
  const Explanation e = explain_policy(*loaded.policy);
  ASSERT_EQ(e.rows.size(), 1u);
  EXPECT_EQ(e.rows[0].accepted.size(), 3u);
}

}  // namespace
}  // namespace authpolicy::test
