// `authpolicy test`: policy unit tests kept beside the policy, run through the module's evaluator.
//
// A .test file names its policy and lists cases; each case is a situation written as
// `authpolicy eval` flags without the dashes, the expected decision, and optionally the factors
// expected to ask the person, in order (docs/language.md, "Testing a policy").
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/command_registry.h"
#include "cli/policy_defaults.h"
#include "cli/situation.h"
#include "engine/evaluate.h"
#include "engine/load.h"
#include "engine/render.h"
#include "engine/scripted.h"

namespace authpolicy::cli {
namespace {

constexpr const char* kTestUsage =
    "usage: authpolicy test [--format text|json] [--ignore-ownership] FILE.test...\n"
    "  Runs each case of each .test file through the module's evaluator and reports every case\n"
    "  whose decision or asked factors differ from what it expects.\n"
    "  exit 0: every case passed; 1: some failed; 2: usage, unreadable or broken file, or a\n"
    "  policy with errors\n";

struct TestCase {
  std::string name;
  std::size_t line = 0;
  Situation situation;
  std::optional<bool> expect_permit;
  std::optional<std::vector<std::string>> expect_asked;
};

struct TestFile {
  std::string policy;  // as written, relative to the .test file
  std::size_t policy_line = 0;
  std::vector<TestCase> cases;
};

// A problem in a .test file, with its line.
struct TestFileError {
  std::size_t line;
  std::string message;
};

// Splits "key rest of line" after dropping a comment that starts at a '#' after a blank.
std::pair<std::string, std::string> split_line(std::string line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
      line.resize(i);
      break;
    }
  }
  const auto trim = [](std::string s) {
    const auto first = s.find_first_not_of(" \t\r");
    if (first == std::string::npos) return std::string();
    const auto last = s.find_last_not_of(" \t\r");
    return s.substr(first, last - first + 1);
  };
  line = trim(line);
  const auto gap = line.find_first_of(" \t");
  if (gap == std::string::npos) return {line, ""};
  return {line.substr(0, gap), trim(line.substr(gap))};
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> names;
  std::string current;
  for (char c : text + ",") {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!current.empty()) names.push_back(current);
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  return names;
}

TestFile parse_test_file(std::istream& in, const std::string& path) {
  TestFile file;
  Situation defaults;
  std::string text;
  std::size_t number = 0;
  TestCase* current = nullptr;
  auto finish = [&] {
    if (current && !current->expect_permit) {
      throw TestFileError{current->line,
                          "case '" + current->name + "' has no 'expect permit' or 'expect deny'"};
    }
  };
  while (std::getline(in, text)) {
    ++number;
    const auto [key, value] = split_line(text);
    if (key.empty()) continue;
    try {
      if (key == "policy") {
        if (current || !file.policy.empty()) {
          throw UsageError("'policy' comes once, before the first case");
        }
        if (value.empty()) throw UsageError("'policy' needs the policy file's path");
        file.policy = value;
        file.policy_line = number;
      } else if (key == "case") {
        finish();
        if (value.empty()) throw UsageError("'case' needs a name");
        file.cases.push_back(TestCase{value, number, defaults, std::nullopt, std::nullopt});
        current = &file.cases.back();
      } else if (key == "expect") {
        if (!current) throw UsageError("'expect' belongs to a case");
        if (value != "permit" && value != "deny") {
          throw UsageError("'expect' takes permit or deny, not '" + value + "'");
        }
        current->expect_permit = value == "permit";
      } else if (key == "asked") {
        if (!current) throw UsageError("'asked' belongs to a case");
        if (value.empty()) throw UsageError("'asked' needs factor names, or 'nothing'");
        current->expect_asked =
            value == "nothing" ? std::vector<std::string>{} : split_names(value);
      } else if (Situation::is_knob(key)) {
        if (value.empty()) throw UsageError("'" + key + "' needs a value");
        (current ? current->situation : defaults).set(key, value, key);
      } else {
        throw UsageError("unknown line '" + key +
                         "': expected policy, case, expect, asked, or a situation (service, user, "
                         "group, rhost, tty, ruser, at, country, asn, failures, recent, factor, "
                         "ssh-auth)");
      }
    } catch (const UsageError& e) {
      throw TestFileError{number, e.what()};
    }
  }
  finish();
  if (file.cases.empty()) throw TestFileError{number, "no cases (a case starts with 'case NAME')"};
  if (file.policy.empty()) {
    // Default: the policy of the same base name beside the test file.
    file.policy = std::filesystem::path(path).stem().string() + ".pol";
  }
  return file;
}

std::string join(const std::vector<std::string>& names) {
  if (names.empty()) return "nothing";
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

struct CaseResult {
  const TestCase* test = nullptr;
  Decision decision;
  bool ok = false;
};

int run_test(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string format = "text";
  LoadOptions options;
  std::vector<std::string> files;
  const auto end = read_arguments(
      args, {"test", kTestUsage}, out, err,
      [&](ArgReader& reader) {
        if (reader.is("--format") || reader.is("--json")) {
          format = read_json_format(reader) ? "json" : "text";
        } else if (reader.is("--ignore-ownership")) {
          options.check_ownership = false;
        } else {
          return false;
        }
        return true;
      },
      [&](const std::string& file) { files.push_back(file); },
      [&] {
        if (files.empty()) throw UsageError("no .test file given");
      });
  if (end) return *end;

  bool trouble = false;
  std::size_t passed = 0;
  std::size_t failed = 0;
  nlohmann::json json_files = nlohmann::json::array();
  for (const auto& path : files) {
    nlohmann::json json_file = {{"file", path}};
    std::ifstream in(path);
    if (!in) {
      err << path << ": cannot read\n";
      json_file["error"] = "cannot read";
      json_files.push_back(json_file);
      trouble = true;
      continue;
    }
    TestFile test_file;
    try {
      test_file = parse_test_file(in, path);
    } catch (const TestFileError& e) {
      err << path << ":" << e.line << ": " << e.message << "\n";
      json_file["error"] = path + ":" + std::to_string(e.line) + ": " + e.message;
      json_files.push_back(json_file);
      trouble = true;
      continue;
    }
    const std::string policy_path =
        (std::filesystem::path(path).parent_path() / test_file.policy).string();
    json_file["policy"] = policy_path;
    const LoadResult loaded = load_policy_file(policy_path, options);
    if (!loaded.policy) {
      for (const auto& d : loaded.diagnostics) {
        if (d.severity == Severity::error) err << render_text(d, loaded.files);
      }
      err << path << ": policy " << policy_path << " has errors; no case was run\n";
      json_file["error"] = "policy " + policy_path + " has errors";
      json_files.push_back(json_file);
      trouble = true;
      continue;
    }
    const Policy& policy = *loaded.policy;
    std::size_t file_passed = 0;
    std::size_t file_failed = 0;
    nlohmann::json json_cases = nlohmann::json::array();
    for (const TestCase& test : test_file.cases) {
      RequestInfo request = test.situation.request;
      if (!test.situation.service_given) request.service = service_from_path(policy_path);
      if (!test.situation.user_given) request.user = "nobody";
      StaticSubjects subjects = test.situation.answers;
      if (!subjects.time) subjects.time = kFixedTime;
      ScriptedFactors factors(Outcome::unavailable);
      for (const auto& [name, outcome] : test.situation.factors) factors.set(name, outcome);
      SilentConversation conversation;
      const Decision d = decide(policy, request, subjects, factors, conversation);
      const std::vector<std::string> asked = d.asked();
      const bool decision_ok = d.permit == *test.expect_permit;
      const bool asked_ok = !test.expect_asked || *test.expect_asked == asked;
      const bool ok = decision_ok && asked_ok;
      (ok ? file_passed : file_failed)++;
      const std::string expected =
          std::string(*test.expect_permit ? "permit" : "deny") +
          (test.expect_asked ? ", asking " + join(*test.expect_asked) : "");
      const std::string got = std::string(d.permit ? "permit" : "deny") + ", asking " + join(asked);
      nlohmann::json unknown = nlohmann::json::array();
      for (const auto& u : d.unknowns) {
        unknown.push_back({{"condition", u.condition}, {"cause", u.cause}});
      }
      json_cases.push_back({{"name", test.name},
                            {"line", test.line},
                            {"ok", ok},
                            {"expected",
                             {{"decision", *test.expect_permit ? "permit" : "deny"},
                              {"asked", test.expect_asked ? nlohmann::json(*test.expect_asked)
                                                          : nlohmann::json(nullptr)}}},
                            {"got",
                             {{"decision", d.permit ? "permit" : "deny"},
                              {"asked", asked},
                              {"reason", d.reason},
                              {"unknown", unknown}}}});
      if (ok || format == "json") continue;
      out << path << ":" << test.line << ": FAIL " << test.name << "\n"
          << "  expected: " << expected << "\n"
          << "  got:      " << got << "\n"
          << "  reason:   " << d.reason << "\n";
      for (const auto& u : d.unknowns)
        out << "  unknown:  " << u.condition << ": " << u.cause << "\n";
    }
    passed += file_passed;
    failed += file_failed;
    json_file["passed"] = file_passed;
    json_file["failed"] = file_failed;
    json_file["cases"] = json_cases;
    json_files.push_back(json_file);
    if (format == "text") {
      out << path << ": " << file_passed << " passed, " << file_failed << " failed\n";
    }
  }
  if (format == "json") {
    out << nlohmann::json{{"files", json_files}, {"passed", passed}, {"failed", failed}}.dump(2)
        << "\n";
  } else if (files.size() > 1) {
    out << "total: " << passed << " passed, " << failed << " failed\n";
  }
  if (trouble) return kExitTrouble;
  return failed > 0 ? kExitRefused : kExitOk;
}

const RegisterCommand registration{"test", "run a policy's unit tests (.test files)", run_test};

}  // namespace
}  // namespace authpolicy::cli
