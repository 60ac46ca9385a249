// Compiling `auth` and lets into expression nodes, and reporting unused definitions.
#include "engine/compiler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <map>
#include "base/sha256.h"
#include "engine/analysis.h"
#include "engine/describe.h"
#include "engine/self_module.h"
#include "engine/values.h"
#include "grammar/parser.h"

namespace authpolicy {

namespace compiler {

void Compiler::compile_auth() {
  const ast::Auth* first = nullptr;
  for (const auto& file : asts_) {
    for (const auto& auth : file.auths) {
      if (first) {
        error("E012", "repeated 'auth': a policy has exactly one auth statement", auth.location,
              {"first auth at " + location_text(first->location)});
        continue;
      }
      first = &auth;
    }
  }
  if (!first) {
    error("E011", "missing 'auth': a policy needs exactly one auth statement, e.g. 'auth password'",
          Location{0, 1, 1, 1});
    return;
  }
  policy_->auth = compile_expression(*first->expression);
  policy_->auth_location = first->location;
}

Expr* Compiler::new_expr(Expr::Kind kind, const Location& location) {
  policy_->expressions.push_back(std::make_unique<Expr>());
  Expr* e = policy_->expressions.back().get();
  e->id = policy_->expressions.size() - 1;
  e->kind = kind;
  e->location = location;
  return e;
}

std::size_t Compiler::factor_for_use(const std::string& name, const Location& location) {
  if (auto index = policy_->factor_index(name)) return *index;
  FactorSpec spec = builtin_spec(name);
  spec.location = location;
  policy_->factors.push_back(std::move(spec));
  return policy_->factors.size() - 1;
}

const Expr* Compiler::compile_expression(const ast::Expression& e) {
  switch (e.kind) {
    case ast::Expression::Kind::name: return compile_name(e);
    case ast::Expression::Kind::permit: return new_expr(Expr::Kind::permit, e.location);
    case ast::Expression::Kind::negation:
      error("E006",
            "type mismatch: '!' applies to conditions, not to factors or expressions",
            e.location,
            {"to waive or require a factor by situation use 'unless' or 'if'; to refuse a "
             "situation use 'deny if'"});
      compile_expression(*e.operands.at(0));
      return nullptr;
    case ast::Expression::Kind::any_of:
    case ast::Expression::Kind::all_of:
    case ast::Expression::Kind::k_of: return compile_combination(e);
    case ast::Expression::Kind::guarded: return compile_guarded(e);
  }
  return nullptr;
}

const Expr* Compiler::compile_name(const ast::Expression& e) {
  if (auto it = lets_.find(e.name); it != lets_.end()) {
    it->second.used = true;
    return compile_let(it->second);
  }
  if (find_factor_kit(e.name) || factor_definitions_.count(e.name)) {
    const auto index = factor_for_use(e.name, e.location);
    policy_->factors[index].used = true;
    Expr* node = new_expr(Expr::Kind::factor, e.location);
    node->factor = index;
    return node;
  }
  std::vector<std::string> names = kit_names();
  for (const auto& [n, def] : factor_definitions_) names.push_back(n);
  for (const auto& [n, let] : lets_) names.push_back(n);
  std::string message = "unknown factor or let '" + e.name + "'" + suggestion(e.name, names);
  if (sets_.count(e.name)) message += ": '" + e.name + "' is a set, usable only in conditions";
  error("E002", message, e.location);
  return nullptr;
}

const Expr* Compiler::compile_let(NamedLet& let) {
  if (let.compiled) return let.compiled;
  if (let.failed) return nullptr;
  if (let.in_progress) {
    error("E018", "let '" + let.definition->name + "' refers to itself", let.definition->location);
    let.failed = true;
    return nullptr;
  }
  let.in_progress = true;
  let.compiled = compile_expression(*let.definition->value);
  let.in_progress = false;
  if (!let.compiled) let.failed = true;
  return let.compiled;
}

const Expr* Compiler::compile_combination(const ast::Expression& e) {
  const Expr::Kind kind = e.kind == ast::Expression::Kind::any_of   ? Expr::Kind::any_of
                          : e.kind == ast::Expression::Kind::all_of ? Expr::Kind::all_of
                                                                    : Expr::Kind::k_of;
  std::vector<const Expr*> operands;
  bool ok = true;
  for (const auto& operand : e.operands) {
    const Expr* compiled = compile_expression(*operand);
    ok = ok && compiled;
    operands.push_back(compiled);
  }
  std::size_t k = 0;
  if (kind == Expr::Kind::k_of) {
    auto n = parse_integer(e.k);
    if (!n) return nullptr;
    if (*n < 1 || static_cast<std::size_t>(*n) > operands.size()) {
      error("E019",
            "'" + e.k.text + " of' needs between 1 and " + std::to_string(operands.size()) +
                " (the number of operands)",
            e.k.location);
      return nullptr;
    }
    k = static_cast<std::size_t>(*n);
  }
  if (!ok) return nullptr;
  Expr* node = new_expr(kind, e.location);
  node->operands = std::move(operands);
  node->k = k;
  return node;
}

const Expr* Compiler::compile_guarded(const ast::Expression& e) {
  const Expr* operand = compile_expression(*e.operands.at(0));
  std::vector<Guard> guards;
  bool ok = operand != nullptr;
  for (const auto& g : e.guards) {
    const Condition* c = compile_condition(*g.condition);
    ok = ok && c;
    const bool compound = g.condition->kind == ast::Condition::Kind::conjunction ||
                          g.condition->kind == ast::Condition::Kind::disjunction;
    const std::string text = describe(*g.condition);
    guards.push_back({g.unless, c, compound ? "(" + text + ")" : text, g.location});
  }
  if (!ok) return nullptr;
  Expr* node = new_expr(Expr::Kind::guarded, e.location);
  node->operands.push_back(operand);
  node->guards = std::move(guards);
  return node;
}

void Compiler::report_unused() {
  // Only the policy's own file: shared includes legitimately define more than one service uses.
  for (const auto& [name, set] : sets_) {
    if (!set.used && set.definition->location.file == 0) {
      warning("W102", "unused set '" + name + "'", set.definition->location);
    }
  }
  for (const auto& [name, let] : lets_) {
    if (!let.used && let.definition->location.file == 0) {
      warning("W103", "unused let '" + name + "'", let.definition->location);
    }
  }
  for (const auto& spec : policy_->factors) {
    if (spec.declared && !spec.used && spec.location.file == 0) {
      warning("W104", "unused factor '" + spec.name + "': it is configured but auth never asks it",
              spec.location);
    }
  }
}

}  // namespace compiler

}  // namespace authpolicy
