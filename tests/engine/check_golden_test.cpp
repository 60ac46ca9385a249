// tests/check/NAME.pol beside NAME.out: `authpolicy check` must print exactly the expected text
// and exit code. UPDATE_GOLDEN=1 rewrites the .out files (review the diff before committing).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace authpolicy::test {
namespace {

std::vector<std::string> golden_cases() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(source_dir() + "/tests/check")) {
    if (entry.path().extension() == ".pol") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class CheckGolden : public testing::TestWithParam<std::string> {};

TEST_P(CheckGolden, OutputMatches) {
  const std::string folder = source_dir() + "/tests/check";
  const std::string name = GetParam();
  const RunResult r = run_cli({"check", "--ignore-ownership", name + ".pol"}, folder);
  const std::string actual = r.out + "exit: " + std::to_string(r.exit_code) + "\n";
  const std::string expected_path = folder + "/" + name + ".out";
  if (std::getenv("UPDATE_GOLDEN")) {
    std::ofstream(expected_path, std::ios::binary | std::ios::trunc) << actual;
    return;
  }
  EXPECT_EQ(read_file(expected_path), actual) << "for tests/check/" << name << ".pol";
}

INSTANTIATE_TEST_SUITE_P(Cases, CheckGolden, testing::ValuesIn(golden_cases()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(CheckGolden, CoversEveryDiagnosticCode) {
  std::string all;
  for (const auto& name : golden_cases()) all += read_file(source_dir() + "/tests/check/" + name + ".out");
  for (const char* code : {"E001", "E002", "E003", "E004", "E005", "E006", "E007", "E008", "E009",
                           "E010", "E011", "E012", "E013", "E014", "E016", "E017", "E018", "E019",
                           "E020", "E021", "E024", "E026", "E027", "W101", "W102", "W103", "W104", "W105", "W106",
                           "W107", "W108", "W109", "W110", "W111", "W112"}) {
    EXPECT_NE(all.find(std::string("[") + code + "]"), std::string::npos) << code;
  }
  EXPECT_GE(golden_cases().size(), 40u);
}

}  // namespace
}  // namespace authpolicy::test
