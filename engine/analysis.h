// Static analysis over every situation a request can be in: open paths, policies that never
// permit, unreachable or redundant operands, lockout factors without an alternative, and the
// plain-words explanation of `authpolicy explain`.
#pragma once

#include <string>
#include <vector>

#include "engine/load.h"
#include "engine/policy.h"

namespace authpolicy {

// What an analysis cost, in the units its budget counts (one node evaluated, one situation
// examined...): deterministic, so tests can bound it without timing anything.
struct AnalysisCost {
  std::size_t work = 0;
};

// Adds the semantic diagnostics (E016, E025, W105-W111) for a policy that compiled cleanly.
// Past a fixed work budget it stops with E025.
void analyse_policy(const Policy& policy, const LoadOptions& options,
                    std::vector<Diagnostic>& diagnostics, AnalysisCost* cost = nullptr);

struct Explanation {
  struct Row {
    std::vector<std::string> situation;               // conditions that hold together
    bool denied = false;                              // a deny rule holds here
    std::string deny_rule;                            // which one
    std::vector<std::vector<std::string>> accepted;   // minimal factor combinations
  };
  std::vector<Row> rows;
  // One per distinct answer, in the order rows first give it: the rows merged and said in the
  // fewest conditions that do not change the answer (empty when not complete).
  struct Answer {
    std::string situation;  // "always" when nothing matters
    bool denied = false;
    std::string deny_rule;
    std::vector<std::vector<std::string>> accepted;
    std::size_t classes = 0;  // how many rows (situation classes) it stands for
  };
  std::vector<Answer> answers;
  bool complete = true;  // false when the situation space was too large to list
};

struct ExplainOptions {
  // Only the logins where sshd completed no method before PAM ran (SSH_AUTH_INFO_0 empty): what
  // keyboard-interactive alone gets, as without an AuthenticationMethods line in sshd_config.
  bool ssh_nothing_completed = false;
};

Explanation explain_policy(const Policy& policy, const ExplainOptions& options = {});

// The exact semantic difference of two policies (`authpolicy diff`). Situations are cut into
// classes by the atoms of both policies together; in each class both policies are evaluated with
// every combination of passing factors (the others failing), which gives each policy's answer
// there: refused by a deny rule, or the set of minimal factor combinations that permit. Classes
// where the answers differ are grouped by the pair of answers, each group with one concrete
// situation.
struct PolicyDiff {
  struct Difference {
    std::vector<std::string> situation;  // the first differing class, in words
    std::string example;                 // a concrete request in it
    std::string old_answer;
    std::string new_answer;
    std::size_t classes = 0;  // how many situation classes give this pair of answers
  };
  std::vector<Difference> differences;
  std::vector<std::string> factor_differences;  // same factor name, different definition
  bool complete = true;  // false: too many situations to compare (no verdict)
  bool equivalent() const { return complete && differences.empty() && factor_differences.empty(); }
};

PolicyDiff diff_policies(const Policy& old_policy, const Policy& new_policy);

}  // namespace authpolicy
