// `authpolicy explain`: a policy in plain words, situation by situation.
#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include "cli/args.h"
#include "cli/command_registry.h"
#include "cli/policy_file_arguments.h"
#include "engine/analysis.h"
#include "engine/describe.h"
#include "engine/load.h"

namespace authpolicy::cli {
namespace {

constexpr const char* kExplainUsage =
    "usage: authpolicy explain [--ignore-ownership] FILE\n"
    "  exit 0: explained; 1: the policy has errors (the module would refuse it);\n"
    "  2: usage error or unreadable file\n";

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

// Factor names in the order auth first mentions them. Lets share nodes, so each is walked once
// (`seen`): a shared node mentions nothing new the second time.
void mention_order(const Policy& policy, const Expr& e, std::vector<std::string>& order,
                   std::set<const Expr*>& seen) {
  if (!seen.insert(&e).second) return;
  if (e.kind == Expr::Kind::factor) {
    const std::string& name = policy.factors[e.factor].name;
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  }
  for (const Expr* operand : e.operands) mention_order(policy, *operand, order, seen);
}

// "password + pin, or password + u2f", factors in the order auth mentions them.
std::string combinations_text(const Policy& policy, const Explanation::Row& row) {
  if (row.denied) return "denied (" + row.deny_rule + ")";
  if (row.accepted.empty()) return "denied (no factor can be used here)";
  std::vector<std::string> mentioned;
  std::set<const Expr*> seen;
  mention_order(policy, *policy.auth, mentioned, seen);
  auto order = [&](const std::string& name) {
    return std::find(mentioned.begin(), mentioned.end(), name) - mentioned.begin();
  };
  std::vector<std::string> alternatives;
  for (auto combination : row.accepted) {
    std::sort(combination.begin(), combination.end(),
              [&](const std::string& a, const std::string& b) { return order(a) < order(b); });
    alternatives.push_back(combination.empty() ? "nothing asked (permit)"
                                               : join(combination, " + "));
  }
  return join(alternatives, ", or ");
}

int run_explain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  LoadOptions options;
  std::string file;
  const auto end =
      read_policy_file_arguments(args, {"explain", kExplainUsage}, out, err, file, options);
  if (end) return *end;
  const LoadResult result = load_policy_file(file, options);
  if (!result.policy) {
    report_refused_policy(result, "explain", file, err);
    return result.unreadable ? 2 : 1;
  }
  const Policy& policy = *result.policy;
  out << file << "\n  auth " << describe(policy, *policy.auth) << "\n";
  if (!policy.denies.empty()) {
    out << "\ndenied before anything is asked:\n";
    for (const auto& rule : policy.denies) {
      out << "  when " << rule.text << " (also when it cannot be determined)\n";
    }
  }
  const Explanation explanation = explain_policy(policy);
  // One line per distinct answer, its situation simplified; the answer that stands for the most
  // situation classes reads as "otherwise".
  std::vector<const Explanation::Answer*> answers;
  for (const auto& answer : explanation.answers) {
    if (!answer.denied) answers.push_back(&answer);  // deny rules are said above
  }
  out << "\naccepted, by situation:\n";
  if (answers.empty()) out << "  nobody, in any situation\n";
  const Explanation::Answer* largest = nullptr;
  for (const auto* a : answers) {
    if (!largest || a->classes > largest->classes) largest = a;
  }
  auto text = [&](const Explanation::Answer& a) {
    Explanation::Row row;
    row.accepted = a.accepted;
    return combinations_text(policy, row);
  };
  for (const auto* a : answers) {
    if (a == largest && answers.size() > 1) continue;
    out << "  " << (answers.size() == 1 ? "always" : a->situation) << ":\n      " << text(*a)
        << "\n";
  }
  if (answers.size() > 1) out << "  otherwise:\n      " << text(*largest) << "\n";
  if (!explanation.complete) out << "\n(too many situations to list them all)\n";
  const bool presence =
      std::any_of(policy.factors.begin(), policy.factors.end(),
                  [](const FactorSpec& f) { return f.used && f.presence && !f.remote_allowed; });
  if (presence) {
    out << "\nnote: ";
    std::vector<std::string> names;
    for (const auto& f : policy.factors) {
      if (f.used && f.presence && !f.remote_allowed) names.push_back(f.name);
    }
    out << join(names, ", ") << (names.size() == 1 ? " needs" : " need")
        << " a person at the machine: unavailable for remote requests\n";
  }
  return 0;
}

const RegisterCommand registration{"explain", "describe a policy in plain words", run_explain};

}  // namespace
}  // namespace authpolicy::cli
