// `authpolicy test` against tests/testrun/NAME.test beside NAME.out (passing, failing and broken
// test files; json_* with --format json), and every example policy's own .test file.
// UPDATE_GOLDEN=1 rewrites the .out files (review the diff before committing).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace authpolicy::test {
namespace {

std::vector<std::string> files_with(const std::string& folder, const std::string& extension) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() == extension) names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class PolicyTestGolden : public testing::TestWithParam<std::string> {};

TEST_P(PolicyTestGolden, OutputMatches) {
  const std::string folder = source_dir() + "/tests/testrun";
  const std::string name = GetParam();
  std::vector<std::string> args = {"test", "--ignore-ownership"};
  if (name.rfind("json_", 0) == 0) args.insert(args.end(), {"--format", "json"});
  args.push_back(name + ".test");
  const RunResult r = run_cli(args, folder);
  const std::string actual = r.out + "exit: " + std::to_string(r.exit_code) + "\n";
  const std::string expected_path = folder + "/" + name + ".out";
  if (std::getenv("UPDATE_GOLDEN")) {
    std::ofstream(expected_path, std::ios::binary | std::ios::trunc) << actual;
    return;
  }
  EXPECT_EQ(read_file(expected_path), actual) << "for tests/testrun/" << name << ".test";
}

INSTANTIATE_TEST_SUITE_P(Cases, PolicyTestGolden,
                         testing::ValuesIn(files_with(source_dir() + "/tests/testrun", ".test")),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

// Every example policy is kept with its unit tests, and they pass through the real CLI.
TEST(PolicyExamples, EveryPolicyHasPassingTests) {
  const std::string folder = source_dir() + "/policies";
  const auto policies = files_with(folder, ".pol");
  const auto tests = files_with(folder, ".test");
  ASSERT_FALSE(policies.empty());
  std::vector<std::string> args = {"test", "--ignore-ownership"};
  for (const auto& name : policies) {
    EXPECT_TRUE(std::find(tests.begin(), tests.end(), name) != tests.end())
        << "policies/" << name << ".pol has no policies/" << name << ".test";
    args.push_back(name + ".test");
  }
  const RunResult r = run_cli(args, folder);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find(" 0 failed\n"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace authpolicy::test
