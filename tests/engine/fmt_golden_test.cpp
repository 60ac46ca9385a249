// `authpolicy fmt`: tests/fmt/NAME.pol formats to NAME.out exactly, formatting is idempotent and
// keeps the syntax tree; on real policies it keeps every diagnostic and the explanation, and
// `authpolicy diff` finds them equivalent; the CLI
// rewrites in place keeping owner and mode, refuses links, and --check lists what would change.
// UPDATE_GOLDEN=1 rewrites the .out files (review the diff before committing).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "engine/analysis.h"
#include "grammar/format.h"
#include "grammar/parser.h"
#include "test_support.h"

namespace authpolicy::test {
namespace {

std::vector<std::string> files_in(const std::string& folder, const std::string& extension) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() == extension) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string formatted(const std::string& text) {
  const auto result = grammar::format_policy_text(text);
  if (!result.text) {
    ADD_FAILURE() << "does not parse: " << result.error->message;
    return {};
  }
  return *result.text;
}

class FmtGolden : public testing::TestWithParam<std::string> {};

TEST_P(FmtGolden, OutputMatchesIsIdempotentAndKeepsTheTree) {
  const std::string folder = source_dir() + "/tests/fmt";
  const std::string name = GetParam();
  const std::string original = read_file(folder + "/" + name);
  const std::string out = formatted(original);
  const std::string expected_path = folder + "/" + name.substr(0, name.size() - 4) + ".out";
  if (std::getenv("UPDATE_GOLDEN")) {
    std::ofstream(expected_path, std::ios::binary | std::ios::trunc) << out;
    return;
  }
  EXPECT_EQ(read_file(expected_path), out) << "for tests/fmt/" << name;
  EXPECT_EQ(formatted(out), out) << "formatting tests/fmt/" << name << " twice changes it";
  const auto before = grammar::parse_policy_text(original, 0);
  const auto after = grammar::parse_policy_text(out, 0);
  ASSERT_TRUE(before.file && after.file);
  EXPECT_EQ(grammar::syntax_dump(*before.file), grammar::syntax_dump(*after.file));
}

INSTANTIATE_TEST_SUITE_P(Cases, FmtGolden,
                         testing::ValuesIn(files_in(source_dir() + "/tests/fmt", ".pol")),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param.substr(0, info.param.size() - 4);
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The parser refuses nesting past kMaxNesting levels of parentheses and '!'. The formatter adds
// parentheses that only show a reach (`!(user in x)`, `a && (b if c)`); at the limit they must
// give way, or fmt turns a policy that parses into one that does not (found by fuzz_policy).
TEST(Fmt, PoliciesAtTheNestingLimitFormatToTextThatParses) {
  const auto nots = [](std::size_t n) { return std::string(n, '!'); };
  const auto parens = [](std::size_t n, const std::string& inside) {
    return std::string(n, '(') + inside + std::string(n, ')');
  };
  std::vector<std::string> policies;
  for (std::size_t n = grammar::kMaxNesting - 2; n <= grammar::kMaxNesting; ++n) {
    policies.push_back("deny if " + nots(n) + "user in {x}\nauth a\n");
    policies.push_back("auth a && b if " + nots(n) + "user in {x}\n");
    policies.push_back("auth " + parens(n, "a && b if user in {x}") + "\n");
    policies.push_back(
        "auth " + parens(n - 1, "a || b unless (" + nots(1) + "rhost is local || user in {y})") +
        "\n");
    policies.push_back("auth " + nots(n) + "a && b\n");
    policies.push_back("deny if " + parens(n - 1, "!rhost is local && !user in {x}") +
                       "\nauth a\n");
    policies.push_back("auth " + parens(n - 2, "2 of (a, b if !user in {x}, c)") + "\n");
  }
  for (const std::string& text : policies) {
    const auto before = grammar::parse_policy_text(text, 0);
    if (!before.file) continue;  // past the limit already: nothing to format
    const std::string out = formatted(text);
    const auto after = grammar::parse_policy_text(out, 0);
    ASSERT_TRUE(after.file) << "formatted text does not parse: " << after.error->message
                            << "\n--- input\n"
                            << text << "--- formatted\n"
                            << out;
    EXPECT_EQ(grammar::syntax_dump(*before.file), grammar::syntax_dump(*after.file)) << text;
    EXPECT_EQ(formatted(out), out) << text;
  }
  // Below the limit the reach is still shown.
  EXPECT_EQ(formatted("auth a && b if !user in {x}\n"), "auth a && (b if !(user in { x }))\n");
}

// What a policy means, without locations: its diagnostics and its explanation.
std::string meaning(const std::string& text, const std::string& path) {
  LoadOptions options;
  options.check_ownership = false;
  const LoadResult r = load_policy_text(text, path, options);
  std::string out;
  std::vector<std::string> diagnostics;
  for (const auto& d : r.diagnostics) diagnostics.push_back(d.code + " " + d.message);
  std::sort(diagnostics.begin(), diagnostics.end());
  for (const auto& d : diagnostics) out += d + "\n";
  if (!r.policy) return out + "no policy\n";
  const Explanation e = explain_policy(*r.policy);
  for (const auto& row : e.rows) {
    for (const auto& s : row.situation) out += s + "; ";
    out += row.denied ? "denied by " + row.deny_rule : "accepts";
    for (const auto& combo : row.accepted) {
      out += " [";
      for (const auto& f : combo) out += f + " ";
      out += "]";
    }
    out += "\n";
  }
  return out;
}

// Every checker golden and every example policy means the same after formatting.
TEST(Fmt, KeepsDiagnosticsAndExplanations) {
  std::size_t compared = 0;
  for (const std::string folder : {"/tests/check", "/policies"}) {
    for (const auto& name : files_in(source_dir() + folder, ".pol")) {
      const std::string path = source_dir() + folder + "/" + name;
      const std::string original = read_file(path);
      const auto result = grammar::format_policy_text(original);
      if (!result.text) continue;  // syntax errors: nothing to format
      EXPECT_EQ(meaning(original, path), meaning(*result.text, path)) << path;
      ++compared;
    }
  }
  EXPECT_GE(compared, 50u);
}

// `authpolicy diff` finds no difference between each example policy or clean checker golden and
// its formatted text (written beside it, so includes resolve the same).
TEST(Fmt, DiffFindsFormattedPoliciesEquivalent) {
  TempDir dir;
  std::size_t compared = 0;
  for (const std::string folder : {"check", "policies"}) {
    const std::string from = source_dir() + (folder == "check" ? "/tests/check" : "/policies");
    std::filesystem::copy(from, dir.path() + "/" + folder,
                          std::filesystem::copy_options::recursive);
    for (const auto& name : files_in(from, ".pol")) {
      const std::string original = read_file(from + "/" + name);
      LoadOptions options;
      options.check_ownership = false;
      if (!load_policy_text(original, from + "/" + name, options).policy) continue;
      const auto result = grammar::format_policy_text(original);
      ASSERT_TRUE(result.text) << name;
      const std::string formatted_name = name.substr(0, name.size() - 4) + ".formatted.pol";
      dir.write(folder + "/" + formatted_name, *result.text);
      const RunResult r =
          run_cli({"diff", "--ignore-ownership", name, formatted_name}, dir.path() + "/" + folder);
      EXPECT_EQ(r.exit_code, 0) << folder << "/" << name << ":\n" << r.out;
      ++compared;
    }
  }
  EXPECT_GE(compared, 20u);
}

// The shipped examples are kept in the canonical layout.
TEST(Fmt, ExamplePoliciesAreFormatted) {
  std::vector<std::string> args = {"fmt", "--check"};
  for (const auto& n : files_in(source_dir() + "/policies", ".pol")) args.push_back(n);
  for (const auto& n : files_in(source_dir() + "/policies/shared", ".inc"))
    args.push_back("shared/" + n);
  const RunResult r = run_cli(args, source_dir() + "/policies");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "");
}

TEST(Fmt, CheckListsRewriteKeepsOwnerAndModeAndTheTestsStillPass) {
  TempDir dir;
  std::filesystem::copy(source_dir() + "/policies", dir.path() + "/policies",
                        std::filesystem::copy_options::recursive);
  // An unformatted variant of sudo.pol: odd spacing, redundant parentheses, ';'.
  const std::string messy =
      "# sudo, written carelessly\n"
      "include   \"shared/networks.inc\";include \"shared/keys.inc\"\n"
      "set admins={alice,bob}\n"
      "deny if !((user in admins) || (user in group(\"sudo\")))\n"
      "deny if (failures(15m) >= 10)\n"
      "auth ((password)) && ((u2f || pin) || (totp unless (rhost in office)))\n";
  const std::string sudo = dir.write("policies/sudo.pol", messy, 0640);
  ASSERT_EQ(::chown(sudo.c_str(), 0, 4), 0);  // group adm, as an admin might have it

  RunResult r = run_cli({"fmt", "--check", "sudo.pol", "su.pol"}, dir.path() + "/policies");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "sudo.pol\n");
  EXPECT_EQ(read_file(sudo), messy) << "--check must not write";

  r = run_cli({"fmt", "sudo.pol", "su.pol"}, dir.path() + "/policies");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "formatted sudo.pol\n");
  EXPECT_EQ(read_file(sudo),
            "# sudo, written carelessly\n"
            "include \"shared/networks.inc\"\n"
            "include \"shared/keys.inc\"\n"
            "set admins = { alice, bob }\n"
            "deny if !(user in admins || user in group(\"sudo\"))\n"
            "deny if failures(15m) >= 10\n"
            "auth password && ((u2f || pin) || (totp unless rhost in office))\n");
  struct stat st {};
  ASSERT_EQ(::stat(sudo.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_gid, 4u);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() + "/policies")) {
    EXPECT_EQ(entry.path().filename().string().find(".fmt-"), std::string::npos)
        << "temporary file left: " << entry.path();
  }

  // The formatted policy decides as before: its unit tests still pass.
  r = run_cli({"test", "--ignore-ownership", "sudo.test"}, dir.path() + "/policies");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  r = run_cli({"fmt", "--check", "sudo.pol"}, dir.path() + "/policies");
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST(Fmt, RefusesLinksAndReportsSyntaxErrors) {
  TempDir dir;
  const std::string target = dir.write("real.pol", "auth   password\n");
  std::filesystem::create_symlink(target, dir.file("link.pol"));
  RunResult r = run_cli({"fmt", "link.pol"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("link.pol: a symbolic link; fmt does not follow links"), std::string::npos)
      << r.out;
  EXPECT_EQ(read_file(target), "auth   password\n");

  dir.write("broken.pol", "auth password &&\n");
  r = run_cli({"fmt", "broken.pol", "real.pol"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("broken.pol:2:1: syntax error: expected"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(target), "auth password\n") << "the other files are still formatted";
  EXPECT_EQ(read_file(dir.file("broken.pol")), "auth password &&\n");

  r = run_cli({"fmt", "missing.pol"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  r = run_cli({"fmt"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  r = run_cli({"fmt", "--help"}, dir.path());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("usage: authpolicy fmt"), std::string::npos);
}

}  // namespace
}  // namespace authpolicy::test
