// Parse+check of the design card and of a 200-line policy, evaluation with scripted factors,
// a chain of shared lets (linear, not exponential), and address-set lookups at 10 and 100,000
// entries.
#include <benchmark/benchmark.h>

#include <random>

#include "engine/address.h"
#include "engine/evaluate.h"
#include "engine/load.h"
#include "engine/scripted.h"

namespace authpolicy {
namespace {

const char* const kCard =
    "set trusted = { 10.0.0.0/8, 192.168.1.0/24, fd00::/8 }\n"
    "auth password && (pin || u2f) unless rhost in trusted\n";

LoadOptions quiet() {
  LoadOptions o;
  o.check_ownership = false;
  return o;
}

// Errors only, as the module loads: warnings need not be computed on every login.
LoadOptions module_like() {
  LoadOptions o = quiet();
  o.warnings = false;
  return o;
}

void BM_ParseCheckCard(benchmark::State& state) {
  const LoadOptions options = state.range(0) ? quiet() : module_like();
  for (auto _ : state) {
    auto r = load_policy_text(kCard, "/nonexistent/card.pol", options);
    benchmark::DoNotOptimize(r.policy);
  }
}
BENCHMARK(BM_ParseCheckCard)->Arg(0)->Arg(1)->ArgName("warnings");

// A realistic long policy: 150 sets and lets, 30 distinct atoms in guards and deny rules.
std::string long_policy() {
  std::string text = "# generated: 200 lines\n";
  for (int i = 0; i < 120; ++i) {
    text += "set net" + std::to_string(i) + " = { 10." + std::to_string(i) + ".0.0/16, fd" +
            std::to_string(10 + i % 80) + "::/16 }\n";
  }
  for (int i = 0; i < 30; ++i) {
    text += "set users" + std::to_string(i) + " = { u" + std::to_string(i) + ", v" + std::to_string(i) + " }\n";
  }
  for (int i = 0; i < 20; ++i) {
    text += "let second" + std::to_string(i) + " = pin || u2f || totp\n";
  }
  for (int i = 0; i < 15; ++i) {
    text += "deny if user in users" + std::to_string(i) + " && rhost in net" + std::to_string(i) + "\n";
  }
  text += "factor u2f { origin = \"pam://bench\" }\n";
  text += "auth password && (totp unless (rhost in net100 && time in 08:00..18:00))";
  for (int i = 0; i < 20; ++i) {
    text += " && (second" + std::to_string(i) + " unless user in users" + std::to_string(15 + i % 15) + ")";
  }
  text += "\n";
  for (int i = 0; i < 119; ++i) {
    if (i != 100 && i >= 15) text += "deny if rhost in net" + std::to_string(i) + " && user in { blocked" + std::to_string(i) + " }\n";
    if (std::count(text.begin(), text.end(), '\n') >= 200) break;
  }
  return text;
}

void BM_ParseCheckLong(benchmark::State& state) {
  const std::string text = long_policy();
  const LoadOptions options = state.range(0) ? quiet() : module_like();
  for (auto _ : state) {
    auto r = load_policy_text(text, "/nonexistent/long.pol", options);
    if (!r.policy) state.SkipWithError("long policy does not compile");
    benchmark::DoNotOptimize(r.policy);
  }
  state.counters["lines"] = static_cast<double>(std::count(text.begin(), text.end(), '\n'));
}
BENCHMARK(BM_ParseCheckLong)->Arg(0)->Arg(1)->ArgName("warnings")->Unit(benchmark::kMicrosecond);

void BM_EvaluateCard(benchmark::State& state) {
  auto r = load_policy_text(kCard, "/nonexistent/card.pol", module_like());
  const Policy& policy = *r.policy;
  ScriptedFactors factors(Outcome::unavailable);
  factors.set("password", Outcome::pass);
  factors.set("pin", Outcome::fail);
  factors.set("u2f", Outcome::pass);
  StaticSubjects subjects;
  SilentConversation conversation;
  const RequestInfo request{"alice", "sudo", "pts/0", "", std::string("203.0.113.9")};
  for (auto _ : state) {
    Decision d = decide(policy, request, subjects, factors, conversation);
    benchmark::DoNotOptimize(d.permit);
  }
}
BENCHMARK(BM_EvaluateCard);

// `let l1 = password && password`, `let lN = (lN-1 && lN-1)`, `auth lDEPTH`: 2^DEPTH leaves when
// unfolded (issue #13). Checked and loaded in well under 10 ms at depth 64.
std::string let_chain(long depth) {
  std::string text = "let l1 = password && password\n";
  for (long i = 2; i <= depth; ++i) {
    text += "let l" + std::to_string(i) + " = (l" + std::to_string(i - 1) + " && l" +
            std::to_string(i - 1) + ")\n";
  }
  return text + "auth l" + std::to_string(depth) + "\n";
}

void BM_ParseCheckLetChain(benchmark::State& state) {
  const std::string text = let_chain(state.range(0));
  const LoadOptions options = state.range(1) ? quiet() : module_like();
  for (auto _ : state) {
    auto r = load_policy_text(text, "/nonexistent/chain.pol", options);
    if (!r.policy) state.SkipWithError("let chain does not compile");
    benchmark::DoNotOptimize(r.policy);
  }
}
BENCHMARK(BM_ParseCheckLetChain)
    ->Args({32, 1})
    ->Args({64, 0})
    ->Args({64, 1})
    ->ArgNames({"depth", "warnings"})
    ->Unit(benchmark::kMicrosecond);

void BM_EvaluateLetChain(benchmark::State& state) {
  auto r = load_policy_text(let_chain(state.range(0)), "/nonexistent/chain.pol", module_like());
  const Policy& policy = *r.policy;
  ScriptedFactors factors(Outcome::pass);
  StaticSubjects subjects;
  SilentConversation conversation;
  const RequestInfo request{"alice", "sudo", "pts/0", "", std::nullopt};
  for (auto _ : state) {
    Decision d = decide(policy, request, subjects, factors, conversation);
    benchmark::DoNotOptimize(d.permit);
  }
}
BENCHMARK(BM_EvaluateLetChain)->Arg(64)->ArgName("depth");

void BM_AddressLookup(benchmark::State& state) {
  std::mt19937 rng(7);
  AddressSet set;
  for (long i = 0; i < state.range(0); ++i) {
    Cidr c;
    c.prefix = 24;
    c.base = IpAddress{true, rng() & 0xffffff00u};
    set.add(c);
  }
  set.finish();
  std::vector<IpAddress> probes;
  for (int i = 0; i < 4096; ++i) probes.push_back(IpAddress{true, rng()});
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(set.contains(probes[i++ & 4095]));
  }
}
BENCHMARK(BM_AddressLookup)->Arg(10)->Arg(100000);

}  // namespace
}  // namespace authpolicy

BENCHMARK_MAIN();
