// Policy fragments back to readable text, for diagnostics, explanations and decision records.
#pragma once

#include <string>

#include "engine/policy.h"
#include "grammar/ast.h"

namespace authpolicy {

std::string describe(const ast::Condition& condition);
std::string describe(const ast::Literal& literal);
// A compiled expression with factor names, for explanations ("password && (pin || u2f)").
std::string describe(const Policy& policy, const Expr& expression);
std::string describe(const Policy& policy, const Condition& condition);

}  // namespace authpolicy
