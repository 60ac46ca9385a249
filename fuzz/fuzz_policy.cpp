// Fuzzes the whole front half: any bytes as a policy, then check, explain and one evaluation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/analysis.h"
#include "engine/evaluate.h"
#include "engine/load.h"
#include "engine/scripted.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace authpolicy;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  LoadOptions options;
  options.check_ownership = false;
  const LoadResult result = load_policy_text(text, "/nonexistent/fuzz/policy.pol", options);
  if (!result.policy) return 0;
  const Policy& policy = *result.policy;
  (void)explain_policy(policy);
  // Derive factor outcomes and a situation from the input so evaluation paths vary too.
  ScriptedFactors factors(Outcome::unavailable);
  const Outcome outcomes[] = {Outcome::pass, Outcome::fail, Outcome::unavailable, Outcome::error};
  for (std::size_t i = 0; i < policy.factors.size(); ++i) {
    factors.set(policy.factors[i].name, outcomes[(size + i * 7) % 4]);
  }
  RequestInfo request{"alice", "sudo", "pts/0", "", std::nullopt};
  if (size % 3 == 1) request.rhost = "10.1.2.3";
  if (size % 3 == 2) request.rhost = "host.example";
  StaticSubjects subjects;
  subjects.time = LocalTime{static_cast<int>(size % 1440), static_cast<int>(size % 7)};
  SilentConversation conversation;
  (void)decide(policy, request, subjects, factors, conversation);
  return 0;
}
