// Static analysis over every situation a request can be in: open paths, policies that never
// permit, unreachable or redundant operands, lockout factors without an alternative, and the
// plain-words explanation of `authpolicy explain`.
#pragma once

#include <string>
#include <vector>

#include "engine/load.h"
#include "engine/policy.h"

namespace authpolicy {

// Adds the semantic diagnostics (E016, E025, W105-W111) for a policy that compiled cleanly.
void analyse_policy(const Policy& policy, const LoadOptions& options,
                    std::vector<Diagnostic>& diagnostics);

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

Explanation explain_policy(const Policy& policy);

}  // namespace authpolicy
