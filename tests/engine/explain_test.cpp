// `authpolicy explain` says, situation by situation, which factor combinations are accepted.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

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

// tests/explain/NAME.pol and every policies/NAME.pol beside tests/explain/NAME.out (policies'
// goldens are named policies-NAME.out): `authpolicy explain` prints exactly that.
// UPDATE_GOLDEN=1 rewrites the .out files.
std::vector<std::pair<std::string, std::string>> explain_cases() {
  std::vector<std::pair<std::string, std::string>> cases;  // (policy path, golden name)
  for (const char* folder : {"tests/explain", "policies"}) {
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() + "/" + folder)) {
      if (entry.path().extension() != ".pol") continue;
      const std::string stem = entry.path().stem().string();
      cases.emplace_back(entry.path().string(),
                         std::string(folder) == "policies" ? "policies-" + stem : stem);
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

class ExplainGolden : public testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(ExplainGolden, OutputMatches) {
  const auto& [path, name] = GetParam();
  const std::filesystem::path file(path);
  const RunResult r = run_cli({"explain", "--ignore-ownership", file.filename().string()},
                              file.parent_path().string());
  const std::string actual = r.out + "exit: " + std::to_string(r.exit_code) + "\n";
  const std::string expected_path = source_dir() + "/tests/explain/" + name + ".out";
  if (std::getenv("UPDATE_GOLDEN")) {
    std::ofstream(expected_path, std::ios::binary | std::ios::trunc) << actual;
    return;
  }
  EXPECT_EQ(read_file(expected_path), actual) << "for " << path;
}

// The target: every example in policies/ explained in one line per distinct answer,
// a line a person can read (no list of clauses joined by "; or").
TEST_P(ExplainGolden, OneReadableLinePerAnswer) {
  const auto& [path, name] = GetParam();
  const std::filesystem::path file(path);
  const RunResult r = run_cli({"explain", "--ignore-ownership", file.filename().string()},
                              file.parent_path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream lines(r.out.substr(r.out.find("accepted, by situation:")));
  std::string line;
  std::getline(lines, line);
  std::size_t situations = 0, answers = 0;
  while (std::getline(lines, line) && !line.empty()) {
    if (line.rfind("      ", 0) == 0) {
      ++answers;
    } else {
      ++situations;
      EXPECT_EQ(line.back(), ':') << line;
      EXPECT_EQ(line.find("; or"), std::string::npos) << line;
      EXPECT_LE(line.size(), 180u) << line;
    }
  }
  EXPECT_EQ(situations, answers) << r.out;
  EXPECT_GE(answers, 1u) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Cases, ExplainGolden, testing::ValuesIn(explain_cases()),
                         [](const testing::TestParamInfo<std::pair<std::string, std::string>>& info) {
                           std::string n = info.param.second;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(Explain, IrrelevantConditionsAreDropped) {
  const LoadResult loaded = load_text(
      "set admins = { alice }\n"
      "auth password && (totp unless (user in admins || !(user in admins)))\n");
  ASSERT_TRUE(loaded.policy);
  const Explanation e = explain_policy(*loaded.policy);
  ASSERT_EQ(e.answers.size(), 1u);
  EXPECT_EQ(e.answers[0].situation, "always");
}

}  // namespace
}  // namespace authpolicy::test
