// `authpolicy diff`: tests/diff/NAME.old.pol and NAME.new.pol compare to NAME.out exactly (the
// text and the exit code). Half the pairs are equivalent rewrites, which must report no
// difference; half are real changes. UPDATE_GOLDEN=1 rewrites the .out files.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace authpolicy::test {
namespace {

std::vector<std::string> diff_cases() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() + "/tests/diff")) {
    const std::string file = entry.path().filename().string();
    const auto at = file.find(".old.pol");
    if (at != std::string::npos && at + 8 == file.size()) names.push_back(file.substr(0, at));
  }
  std::sort(names.begin(), names.end());
  return names;
}

class DiffGolden : public testing::TestWithParam<std::string> {};

TEST_P(DiffGolden, OutputMatches) {
  const std::string folder = source_dir() + "/tests/diff";
  const std::string name = GetParam();
  const RunResult r =
      run_cli({"diff", "--ignore-ownership", name + ".old.pol", name + ".new.pol"}, folder);
  const std::string actual = r.out + "exit: " + std::to_string(r.exit_code) + "\n";
  const std::string expected_path = folder + "/" + name + ".out";
  if (std::getenv("UPDATE_GOLDEN")) {
    std::ofstream(expected_path, std::ios::binary | std::ios::trunc) << actual;
    return;
  }
  EXPECT_EQ(read_file(expected_path), actual) << "for tests/diff/" << name;
}

INSTANTIATE_TEST_SUITE_P(Cases, DiffGolden, testing::ValuesIn(diff_cases()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string n = "case_" + info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(DiffGolden, AtLeastTwentyPairsBothKinds) {
  std::size_t equivalent = 0, different = 0;
  for (const auto& name : diff_cases()) {
    const std::string out = read_file(source_dir() + "/tests/diff/" + name + ".out");
    if (out.find("exit: 0") != std::string::npos) ++equivalent;
    if (out.find("exit: 1") != std::string::npos) ++different;
  }
  EXPECT_GE(equivalent + different, 20u);
  EXPECT_GE(equivalent, 10u);
  EXPECT_GE(different, 10u);
}

TEST(Diff, JsonAndUsage) {
  const std::string folder = source_dir() + "/tests/diff";
  const RunResult r = run_cli({"diff", "--ignore-ownership", "--format", "json",
                               "14-and-to-or.old.pol", "14-and-to-or.new.pol"},
                              folder);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("\"equivalent\": false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"new\": \"password, or totp\""), std::string::npos) << r.out;
  EXPECT_EQ(run_cli({"diff", "only-one.pol"}, folder).exit_code, 2);
}

}  // namespace
}  // namespace authpolicy::test
