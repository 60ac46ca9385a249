// What every policy sub-command does with its arguments: --help, unknown options, "--".
#include <gtest/gtest.h>

#include "tests/engine/test_support.h"

namespace authpolicy::test {
namespace {

const std::vector<std::string> kCommands = {"check",   "test",   "fmt",     "diff",  "eval",
                                            "explain", "enable", "disable", "status"};

TEST(CliArguments, EveryCommandPrintsItsUsageOnHelp) {
  TempDir dir;
  for (const auto& command : kCommands) {
    for (const char* help : {"--help", "-h"}) {
      const RunResult r = run_cli({command, help}, dir.path());
      EXPECT_EQ(r.exit_code, 0) << command << " " << help << "\n" << r.out;
      EXPECT_EQ(r.out.rfind("usage: authpolicy " + command, 0), 0u) << command << "\n" << r.out;
    }
  }
}

TEST(CliArguments, AnUnknownOptionIsAUsageErrorNamingIt) {
  TempDir dir;
  for (const auto& command : kCommands) {
    const RunResult r = run_cli({command, "--no-such-option"}, dir.path());
    EXPECT_EQ(r.exit_code, 2) << command << "\n" << r.out;
    EXPECT_NE(r.out.find("authpolicy " + command + ": unknown option --no-such-option"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("usage: authpolicy " + command), std::string::npos) << r.out;
  }
}

TEST(CliArguments, AValueGivenToAFlagIsAUsageError) {
  TempDir dir;
  const std::string file = dir.write("p.pol", "auth password\n");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"check", "--strict=yes", "--ignore-ownership", file},
        std::vector<std::string>{"eval", "--ignore-ownership=1", file}}) {
    const RunResult r = run_cli(args, dir.path());
    EXPECT_EQ(r.exit_code, 2) << r.out;
    const std::string flag = args[0] == "check" ? "--strict" : "--ignore-ownership";
    EXPECT_EQ(r.out.rfind("authpolicy " + args[0] + ": " + flag + " takes no value\n", 0), 0u)
        << r.out;
  }
}

TEST(CliArguments, AFileNamedLikeAnOptionIsReadAfterDoubleDash) {
  TempDir dir;
  dir.write("-h", "auth password\n");
  RunResult r = run_cli({"check", "--ignore-ownership", "--", "-h"}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("-h: 0 errors, 0 warnings"), std::string::npos) << r.out;

  r = run_cli({"explain", "--ignore-ownership", "--", "-h"}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.find("usage:"), std::string::npos) << r.out;
}

TEST(CliArguments, FormatTakesTextOrJsonOnly) {
  TempDir dir;
  const std::string file = dir.write("p.pol", "auth password\n");
  RunResult r = run_cli({"check", "--ignore-ownership", "--format=xml", file}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("--format takes text or json"), std::string::npos) << r.out;
  r = run_cli({"check", "--ignore-ownership", "--format", "json", file}, dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("{", 0), 0u) << r.out;
}

}  // namespace
}  // namespace authpolicy::test
