// Fuzzes the whole front half: any bytes as a policy, then check, explain and one evaluation;
// and `authpolicy fmt`: whatever parses must format to text that parses to the same tree, formats
// to itself again, and (when it loads) decides the same. Any difference aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "engine/analysis.h"
#include "engine/evaluate.h"
#include "engine/load.h"
#include "engine/scripted.h"
#include "grammar/format.h"

namespace {

using namespace authpolicy;

[[noreturn]] void fail(const char* what, std::string_view text, const std::string& formatted) {
  std::fprintf(stderr, "fmt round trip: %s\n--- input\n%.*s\n--- formatted\n%s\n", what,
               static_cast<int>(text.size()), text.data(), formatted.c_str());
  std::abort();
}

Decision decide_once(const Policy& policy, std::size_t size, std::string_view text) {
  // Derive factor outcomes and a situation from the input so evaluation paths vary too.
  ScriptedFactors factors(Outcome::unavailable);
  const Outcome outcomes[] = {Outcome::pass, Outcome::fail, Outcome::unavailable, Outcome::error};
  for (std::size_t i = 0; i < policy.factors.size(); ++i) {
    factors.set(policy.factors[i].name, outcomes[(size + i * 7) % 4]);
  }
  RequestInfo request{"alice", "sudo", "pts/0", "", std::nullopt};
  if (size % 3 == 1) request.rhost = "10.1.2.3";
  if (size % 3 == 2) request.rhost = "host.example";
  // ssh.auth: absent, nothing completed, sshd's lines, or the input itself as SSH_AUTH_INFO_0.
  const char* const infos[] = {"", "publickey ssh-ed25519 AAAA\n",
                               "password\nkeyboard-interactive/pam\n"};
  if (size % 5 == 4) request.ssh_auth_info = std::string(text);
  if (size % 5 < 3) request.ssh_auth_info = infos[size % 5];
  StaticSubjects subjects;
  subjects.time = LocalTime{static_cast<int>(size % 1440), static_cast<int>(size % 7)};
  SilentConversation conversation;
  return decide(policy, request, subjects, factors, conversation);
}

// fmt must keep the tree, be idempotent, and keep the decision.
void check_format(std::string_view text, const LoadResult& original, std::size_t size) {
  const grammar::ParseResult parsed = grammar::parse_policy_text(text, 0);
  if (!parsed.file) return;
  const grammar::FormatResult formatted = grammar::format_policy_text(text);
  if (!formatted.text) fail("the formatter failed on text that parses", text, "");
  const std::string& out = *formatted.text;
  const grammar::ParseResult reparsed = grammar::parse_policy_text(out, 0);
  if (!reparsed.file) fail("the formatted text does not parse", text, out);
  if (grammar::syntax_dump(*parsed.file) != grammar::syntax_dump(*reparsed.file)) {
    fail("the formatted text parses to another tree", text, out);
  }
  const grammar::FormatResult again = grammar::format_policy_text(out);
  if (!again.text || *again.text != out) fail("formatting twice changes the text", text, out);
  if (!original.policy) return;
  LoadOptions options;
  options.check_ownership = false;
  const LoadResult loaded = load_policy_text(out, "/nonexistent/fuzz/policy.pol", options);
  if (!loaded.policy) fail("the formatted policy does not load", text, out);
  const Decision a = decide_once(*original.policy, size, text);
  const Decision b = decide_once(*loaded.policy, size, text);
  if (a.permit != b.permit || a.asked() != b.asked() || a.reason != b.reason) {
    fail("the formatted policy decides differently", text, out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  LoadOptions options;
  options.check_ownership = false;
  const LoadResult result = load_policy_text(text, "/nonexistent/fuzz/policy.pol", options);
  check_format(text, result, size);
  if (!result.policy) return 0;
  if (text.find("rhost.") != std::string_view::npos) {
    // As `authpolicy check` loads it: deny rules on GeoIP without a database (E027). With a
    // usable policy that analysis only adds E027, never another error.
    LoadOptions as_check = options;
    as_check.geoip_deny_errors = true;
    const LoadResult checked = load_policy_text(text, "/nonexistent/fuzz/policy.pol", as_check);
    for (const Diagnostic& d : checked.diagnostics) {
      if (d.severity == Severity::error && d.code != "E027") {
        std::fprintf(stderr, "check adds %s to a usable policy\n", d.code.c_str());
        std::abort();
      }
    }
  }
  (void)explain_policy(*result.policy);
  (void)decide_once(*result.policy, size, text);
  return 0;
}
