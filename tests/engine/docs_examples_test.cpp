// Every policy example in docs/*.md and docs/factors/*.md (a fenced block with an `auth` line
// that is not a pam.d line)
// compiles with no error: what the docs show is what `authpolicy check` accepts. Two errors are
// about the machine, not the text, and are allowed: E013 (an include the docs do not ship) and
// E027 (no GeoIP database here). What an example does is tested beside it: the rollout examples
// of docs/language.md in tests/testrun/rollout.test, tests/check/ok_enrolled_rollout.pol and
// tests/pam/enrolled_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "tests/engine/test_support.h"

namespace authpolicy::test {
namespace {

struct Example {
  std::string file;
  int line = 0;
  std::string text;
};

std::vector<Example> policy_examples() {
  std::vector<Example> out;
  std::vector<std::filesystem::path> files;
  for (const char* folder : {"/docs", "/docs/factors"}) {
    for (const auto& entry : std::filesystem::directory_iterator(source_dir() + folder)) {
      if (entry.path().extension() == ".md") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    const std::string text = read_file(path.string());
    std::size_t at = 0;
    int line = 1;
    while (true) {
      const std::size_t open = text.find("```", at);
      if (open == std::string::npos) break;
      const std::size_t body = text.find('\n', open);
      const std::size_t close = text.find("\n```", body);
      if (body == std::string::npos || close == std::string::npos) break;
      line += static_cast<int>(std::count(text.begin() + static_cast<long>(at),
                                          text.begin() + static_cast<long>(body), '\n'));
      const std::string block = text.substr(body + 1, close - body);
      // A pam.d line ("auth required pam_policy.so") is not a policy.
      const bool pam_lines = std::regex_search(
          block, std::regex("(^|\n)auth\\s+(required|requisite|sufficient|optional|\\[)"));
      if (!pam_lines && std::regex_search(block, std::regex("(^|\n)auth "))) {
        out.push_back({path.filename().string(), line + 1, block});
      }
      line += static_cast<int>(std::count(block.begin(), block.end(), '\n')) + 1;
      at = close + 4;
    }
  }
  return out;
}

TEST(DocsExamples, EveryPolicyExampleChecksWithoutErrors) {
  const auto examples = policy_examples();
  ASSERT_GE(examples.size(), 5u) << "the docs' examples were not found";
  for (const auto& example : examples) {
    const LoadResult result = load_text(example.text);
    for (const auto& d : result.diagnostics) {
      if (d.severity != Severity::error || d.code == "E013" || d.code == "E027") continue;
      ADD_FAILURE() << example.file << " (block near line " << example.line << "): " << d.code
                    << " " << d.message << "\n"
                    << example.text;
    }
  }
}

TEST(DocsExamples, TheRolloutExamplesAreThere) {
  std::string all;
  for (const auto& example : policy_examples()) all += example.text;
  for (const char* expected : {"auth password && (totp if enrolled(totp))",
                               "auth password && (totp if (enrolled(totp) || date >= 2027-01-15))"}) {
    EXPECT_NE(all.find(expected), std::string::npos) << expected;
  }
}

}  // namespace
}  // namespace authpolicy::test
