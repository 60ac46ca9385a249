// `authpolicy diff`: the exact semantic difference of two policies, class by class.
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "engine/analysis.h"
#include "engine/describe.h"
#include "engine/evaluate.h"
#include "engine/geoip_lookup.h"
#include "engine/scripted.h"
#include "engine/situation_search.h"
#include "engine/ssh_auth.h"

namespace authpolicy {

using namespace analysis;

// ---- Semantic difference -----------------------------------------------------------------------

namespace {

constexpr std::size_t kDiffBudget = 100000;  // situation classes compared at most
constexpr std::size_t kDiffMaxFactors = 10;  // 2^10 factor outcome combinations per class

// A policy's answer in one concrete situation: "deny" (with the rule) or its minimal accepted
// factor combinations, in a canonical key and in words.
struct Answer {
  std::string key;
  std::string text;
};

Answer answer_in(const Policy& policy, const RequestInfo& request, StaticSubjects& subjects) {
  std::vector<std::string> names;
  for (const auto& f : policy.factors) {
    if (f.used) names.push_back(f.name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (names.size() > kDiffMaxFactors) throw Budget{};
  std::vector<std::set<std::string>> permitted;
  for (unsigned mask = 0; mask < (1u << names.size()); ++mask) {
    ScriptedFactors factors(Outcome::fail);
    std::set<std::string> passing;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (mask & (1u << i)) {
        factors.set(names[i], Outcome::pass);
        passing.insert(names[i]);
      }
    }
    SilentConversation conversation;
    const Decision d = decide(policy, request, subjects, factors, conversation);
    if (d.deny_rule) return {"deny", "denied (" + *d.deny_rule + ")"};
    if (d.permit) permitted.push_back(std::move(passing));
  }
  std::vector<std::set<std::string>> minimal_sets;
  for (const auto& s : permitted) {
    const bool has_smaller = std::any_of(permitted.begin(), permitted.end(), [&](const auto& t) {
      return t != s && std::includes(s.begin(), s.end(), t.begin(), t.end());
    });
    if (!has_smaller) minimal_sets.push_back(s);
  }
  std::sort(minimal_sets.begin(), minimal_sets.end(), [](const auto& a, const auto& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  if (minimal_sets.empty()) return {"none", "denied (no factor combination permits)"};
  std::string key, text;
  for (const auto& s : minimal_sets) {
    std::string combination;
    for (const auto& f : s) combination += (combination.empty() ? "" : " + ") + f;
    if (combination.empty()) combination = "nothing asked (permit)";
    key += combination + "|";
    text += (text.empty() ? "" : ", or ") + combination;
  }
  return {key, text};
}

std::string example_of(const RequestInfo& request) {
  std::string out = "user " + request.user + ", service " + request.service;
  out += request.rhost ? ", rhost " + *request.rhost : ", no rhost";
  if (!request.tty.empty()) out += ", tty " + request.tty;
  if (!request.ruser.empty()) out += ", ruser " + request.ruser;
  if (request.ssh_auth_info) {
    std::string problem;
    const auto methods = parse_ssh_auth_info(*request.ssh_auth_info, &problem);
    if (methods) {
      out += *methods ? ", ssh.auth { " + ssh_method_list(*methods) + " }"
                      : ", ssh.auth empty (sshd completed nothing before)";
    }
  }
  return out;
}

std::string describe_factor(const FactorSpec& f) {
  std::string out = f.module.empty() ? "built-in" : "pam(\"" + f.module + "\"";
  for (const auto& a : f.arguments) out += ", \"" + a + "\"";
  if (!f.module.empty()) out += ")";
  if (!f.settings.values().empty()) out += " with settings";
  return out;
}

}  // namespace

PolicyDiff diff_policies(const Policy& old_policy, const Policy& new_policy) {
  PolicyDiff result;
  for (const auto& f : old_policy.factors) {
    const auto other = new_policy.factor_index(f.name);
    if (!other || !f.used || !new_policy.factors[*other].used) continue;
    const FactorSpec& g = new_policy.factors[*other];
    if (f.kit != g.kit || f.module != g.module || f.arguments != g.arguments ||
        f.settings.values() != g.settings.values() || f.remote_allowed != g.remote_allowed) {
      result.factor_differences.push_back(
          "factor " + f.name + ": " + describe_factor(f) + " before, " + describe_factor(g) +
          " now" + (f.settings.values() != g.settings.values() ? " (its settings differ)" : ""));
    }
  }
  // One situation space cut by the atoms of both policies (the factors too, for presence).
  Policy combined;
  for (const Policy* p : {&old_policy, &new_policy}) {
    for (const auto& atom : p->atoms) combined.atoms.push_back(atom);
    for (const auto& f : p->factors) combined.factors.push_back(f);
  }
  std::optional<Space> built;
  try {
    built.emplace(combined);
  } catch (const Budget&) {
    result.complete = false;
    return result;
  }
  const Space& space = *built;
  std::map<std::pair<std::string, std::string>, std::size_t> group_of;
  Space::Assignment a = space.empty_assignment();
  for (std::size_t v = 0; v < a.size(); ++v) a[v] = 0;
  std::size_t examined = 0;
  try {
    while (true) {
      if (++examined > kDiffBudget) throw Budget{};
      // Subjects that do not matter here (GeoIP without an address) stay at their first class.
      bool redundant = false;
      for (std::size_t v = 0; v < a.size(); ++v) {
        Space::Assignment probe = a;
        if (a[v] != 0 && !space.relevant(v, probe)) redundant = true;
      }
      if (!redundant) {
        RequestInfo request;
        StaticSubjects subjects;
        space.concretise(a, request, subjects);
        const Answer before = answer_in(old_policy, request, subjects);
        const Answer after = answer_in(new_policy, request, subjects);
        if (before.key != after.key) {
          const auto pair = std::make_pair(before.key, after.key);
          auto it = group_of.find(pair);
          if (it == group_of.end()) {
            it = group_of.emplace(pair, result.differences.size()).first;
            PolicyDiff::Difference d;
            d.situation = space.describe_situation(a);
            d.example = example_of(request);
            d.old_answer = before.text;
            d.new_answer = after.text;
            result.differences.push_back(std::move(d));
          }
          ++result.differences[it->second].classes;
        }
      }
      std::size_t v = 0;
      for (; v < a.size(); ++v) {
        if (static_cast<std::size_t>(++a[v]) < space.variable(v).classes.size()) break;
        a[v] = 0;
      }
      if (v == a.size()) break;
    }
  } catch (const Budget&) {
    result.complete = false;
  }
  return result;
}

}  // namespace authpolicy
