// `authpolicy explain`: a policy in plain words, situation by situation.
#include <algorithm>
#include <iostream>
#include <map>

#include "cli/args.h"
#include "cli/command_registry.h"
#include "engine/analysis.h"
#include "engine/describe.h"
#include "engine/load.h"
#include "engine/render.h"

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

// Factor names in the order auth first mentions them.
void mention_order(const Policy& policy, const Expr& e, std::vector<std::string>& order) {
  if (e.kind == Expr::Kind::factor) {
    const std::string& name = policy.factors[e.factor].name;
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  }
  for (const Expr* operand : e.operands) mention_order(policy, *operand, order);
}

// "password + pin, or password + u2f", factors in the order auth mentions them.
std::string combinations_text(const Policy& policy, const Explanation::Row& row) {
  if (row.denied) return "denied (" + row.deny_rule + ")";
  if (row.accepted.empty()) return "denied (no factor can be used here)";
  std::vector<std::string> mentioned;
  mention_order(policy, *policy.auth, mentioned);
  auto order = [&](const std::string& name) {
    return std::find(mentioned.begin(), mentioned.end(), name) - mentioned.begin();
  };
  std::vector<std::string> alternatives;
  for (auto combination : row.accepted) {
    std::sort(combination.begin(), combination.end(),
              [&](const std::string& a, const std::string& b) { return order(a) < order(b); });
    alternatives.push_back(combination.empty() ? "nothing asked (permit)" : join(combination, " + "));
  }
  return join(alternatives, ", or ");
}

int run_explain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  LoadOptions options;
  std::string file;
  try {
    ArgReader reader(args);
    while (reader.next()) {
      if (reader.flag() == "--help" || reader.flag() == "-h") {
        out << kExplainUsage;
        return 0;
      }
      if (reader.flag() == "--ignore-ownership") {
        options.check_ownership = false;
      } else if (reader.is_option()) {
        throw UsageError("unknown option " + reader.flag());
      } else if (file.empty()) {
        file = reader.raw();
      } else {
        throw UsageError("explain takes one file");
      }
    }
    if (file.empty()) throw UsageError("no policy file given");
  } catch (const UsageError& e) {
    err << "authpolicy explain: " << e.what() << "\n" << kExplainUsage;
    return 2;
  }
  const LoadResult result = load_policy_file(file, options);
  if (!result.policy) {
    for (const auto& d : result.diagnostics) {
      if (d.severity == Severity::error) err << render_text(d, result.files);
    }
    err << "authpolicy explain: " << file << " has errors; the module would refuse it\n";
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
  // Group situations by what they accept; the largest group reads as "otherwise".
  std::map<std::string, std::vector<std::string>> groups;
  std::vector<std::string> order;
  for (const auto& row : explanation.rows) {
    if (row.denied) continue;  // said above
    const std::string outcome = combinations_text(policy, row);
    if (!groups.count(outcome)) order.push_back(outcome);
    groups[outcome].push_back(row.situation.empty() ? "always" : join(row.situation, ", "));
  }
  out << "\naccepted, by situation:\n";
  if (order.empty()) out << "  nobody, in any situation\n";
  std::string largest;
  for (const auto& o : order) {
    if (largest.empty() || groups[o].size() > groups[largest].size()) largest = o;
  }
  for (const auto& o : order) {
    if (o == largest && order.size() > 1) continue;
    out << "  " << (order.size() == 1 ? "always" : join(groups[o], "; or ")) << ":\n      " << o
        << "\n";
  }
  if (order.size() > 1) out << "  otherwise:\n      " << largest << "\n";
  if (!explanation.complete) out << "\n(too many situations to list them all)\n";
  const bool presence = std::any_of(policy.factors.begin(), policy.factors.end(),
                                    [](const FactorSpec& f) {
                                      return f.used && f.presence && !f.remote_allowed;
                                    });
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
