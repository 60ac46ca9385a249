// The static checks of a compiled policy over every situation: open paths (E016), too complex
// (E025), explicit permits (W107), lockout without an alternative (W108), never permits (W110),
// unreachable or redundant operands (W105, W106), GeoIP without a database (W109, E027), a weak
// alternative to the password (W112), u2f without an origin (W111).
#include "engine/analysis.h"

#include <unistd.h>
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "engine/describe.h"
#include "engine/evaluate.h"
#include "engine/geoip_lookup.h"
#include "engine/scripted.h"
#include "engine/situation_search.h"

namespace authpolicy {

using namespace analysis;

namespace {

// ---- Operand checks (W105, W106) -------------------------------------------------------------

// Walks over the expression DAG, memoised per node and charged to the analysis budget.
class OperandChecker {
 public:
  OperandChecker(const Space& space, std::vector<Diagnostic>& out)
      : space_(space), policy_(space.policy()), out_(out) {}

  void visit(const Expr& e, const std::set<std::size_t>& before) {
    // The same node reached again with the same factors already asked reports the same things.
    if (!visited_.emplace(&e, before).second) return;
    space_.charge(1 + before.size());
    switch (e.kind) {
      case Expr::Kind::factor:
        if (before.count(e.factor)) {
          report("W106",
                 "redundant '" + policy_.factors[e.factor].name +
                     "': it was already asked on every path that reaches here, so its first "
                     "answer is reused",
                 e.location);
        }
        return;
      case Expr::Kind::permit:
        return;
      case Expr::Kind::guarded:
        visit(*e.operands.at(0), before);
        return;
      case Expr::Kind::any_of:
      case Expr::Kind::all_of:
      case Expr::Kind::k_of: {
        std::set<std::size_t> acc = before;
        bool dead = false;
        for (const Expr* operand : e.operands) {
          if (dead) {
            report("W105",
                   std::string("unreachable operand '") + describe(policy_, *operand) +
                       "': the operand before it always passes",
                   operand->location);
            continue;
          }
          visit(*operand, acc);
          const auto& more = always_consulted(*operand);
          acc.insert(more.begin(), more.end());
          if (e.kind == Expr::Kind::any_of && always_passes(*operand)) dead = true;
        }
        return;
      }
    }
  }

  // The first `permit` in evaluation order, or null.
  const Expr* first_permit(const Expr& e) {
    if (!permit_searched_.insert(&e).second) return nullptr;  // searched already: none there
    space_.charge();
    if (e.kind == Expr::Kind::permit) return &e;
    for (const Expr* operand : e.operands) {
      if (const Expr* p = first_permit(*operand)) return p;
    }
    return nullptr;
  }

 private:
  struct LocationLess {
    bool operator()(const Location& a, const Location& b) const {
      return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
    }
  };

  const Space& space_;
  const Policy& policy_;
  std::vector<Diagnostic>& out_;
  std::set<Location, LocationLess> reported_;
  std::set<std::pair<const Expr*, std::set<std::size_t>>> visited_;
  std::unordered_map<const Expr*, bool> passes_;
  std::unordered_map<const Expr*, std::set<std::size_t>> consulted_;
  std::set<const Expr*> permit_searched_;

  bool always_passes(const Expr& e) {
    if (auto it = passes_.find(&e); it != passes_.end()) return it->second;
    space_.charge();
    bool result = false;
    auto count = [&] {
      std::size_t n = 0;
      for (const Expr* o : e.operands) n += always_passes(*o) ? 1 : 0;
      return n;
    };
    switch (e.kind) {
      case Expr::Kind::permit:
        result = true;
        break;
      case Expr::Kind::factor:
        result = false;
        break;
      case Expr::Kind::any_of:
        result = count() >= 1;
        break;
      case Expr::Kind::all_of:
        result = count() == e.operands.size();
        break;
      case Expr::Kind::k_of:
        result = count() >= e.k;
        break;
      case Expr::Kind::guarded:
        result = always_passes(*e.operands.at(0));
        break;
    }
    passes_.emplace(&e, result);
    return result;
  }

  // Factors certainly asked (or recalled) whenever `e` is evaluated: its first operand's.
  const std::set<std::size_t>& always_consulted(const Expr& e) {
    if (auto it = consulted_.find(&e); it != consulted_.end()) return it->second;
    space_.charge();
    std::set<std::size_t> result;
    switch (e.kind) {
      case Expr::Kind::factor:
        result = {e.factor};
        break;
      case Expr::Kind::any_of:
      case Expr::Kind::all_of:
      case Expr::Kind::k_of:
        result = always_consulted(*e.operands.at(0));
        break;
      default:
        break;
    }
    return consulted_.emplace(&e, std::move(result)).first->second;
  }

  void report(std::string code, std::string message, const Location& where) {
    if (!reported_.insert(where).second) return;
    out_.push_back({Severity::warning, std::move(code), std::move(message), where, {}});
  }
};

// What happens concretely in the witness situation, with every factor unavailable.
std::string consulted_in(const Space& space, const Space::Assignment& a) {
  RequestInfo request;
  StaticSubjects subjects;
  space.concretise(a, request, subjects);
  ScriptedFactors factors(Outcome::unavailable);
  SilentConversation conversation;
  const Decision d = decide(space.policy(), request, subjects, factors, conversation);
  std::vector<std::string> names;
  for (const auto& attempt : d.attempts) names.push_back(attempt.name + " unavailable");
  return join(names, ", ");
}

std::string when(const Space& space, const Space::Assignment& a) {
  auto parts = space.describe_situation(a);
  if (const auto consulted = consulted_in(space, a); !consulted.empty()) parts.push_back(consulted);
  return parts.empty() ? "always" : join(parts, ", ");
}

// ---- GeoIP without a database (W109, E027) --------------------------------------------------

// What a deny rule still asks of a remote login once some GeoIP subjects are unknown. `deny if C`
// denies when C is true or unknown, and an unknown operand makes C unknown unless the rest
// settles it: so the rule denies exactly when "C is not false" with those atoms counted as
// unknown. That is a condition on the other atoms alone, written out here so the message can say
// which logins are refused ("every remote login where user in admins"), not just "every".
class DenyResidual {
 public:
  // No text: the rule denies every remote login.
  struct Text {
    std::optional<std::string> text;
    bool compound = false;
  };

  DenyResidual(const Policy& policy, std::set<Subject> unknown)
      : policy_(policy), unknown_(std::move(unknown)) {}

  // nullopt when the text would be too long to be useful (lets can make it exponential).
  std::optional<Text> not_false(const Condition& c) { return walk(c, true); }

 private:
  // Past this the message falls back to "where the rest of the rule holds".
  static constexpr std::size_t kLimit = 240;
  const Policy& policy_;
  std::set<Subject> unknown_;
  std::map<std::pair<std::size_t, bool>, std::optional<Text>> memo_;

  // `positive`: "c is not false"; otherwise "c is not true".
  std::optional<Text> walk(const Condition& c, bool positive) {
    const auto key = std::make_pair(c.id, positive);
    if (const auto it = memo_.find(key); it != memo_.end()) return it->second;
    std::optional<Text> out = compute(c, positive);
    if (out && out->text && out->text->size() > kLimit) out.reset();
    memo_[key] = out;
    return out;
  }

  std::optional<Text> compute(const Condition& c, bool positive) {
    switch (c.kind) {
      case Condition::Kind::atom: {
        const Atom& atom = policy_.atoms[c.atom];
        if (unknown_.count(atom.subject)) return Text{};
        return Text{positive ? atom.text : Space::state(atom, kNo), false};
      }
      case Condition::Kind::negation:
        return walk(*c.operands.at(0), !positive);
      case Condition::Kind::conjunction:
      case Condition::Kind::disjunction: {
        // not-false distributes as the node's own operator; not-true as its dual.
        const bool all = (c.kind == Condition::Kind::conjunction) == positive;
        std::vector<std::string> parts;
        for (const Condition* operand : c.operands) {
          const auto part = walk(*operand, positive);
          if (!part) return std::nullopt;
          if (!part->text) {
            if (all) continue;  // "true && x" is x
            return Text{};      // "true || x" is true
          }
          parts.push_back(part->compound ? "(" + *part->text + ")" : *part->text);
        }
        if (parts.empty()) return Text{};
        if (parts.size() == 1) return Text{parts[0], parts[0].front() == '('};
        return Text{join(parts, all ? " && " : " || "), true};
      }
    }
    return std::nullopt;
  }
};

// Atom indices under `c` (lets are shared nodes: each visited once).
void collect_atoms(const Condition& c, std::vector<bool>& seen_conditions,
                   std::vector<std::size_t>& out) {
  if (seen_conditions.at(c.id)) return;
  seen_conditions[c.id] = true;
  if (c.kind == Condition::Kind::atom) {
    out.push_back(c.atom);
    return;
  }
  for (const Condition* operand : c.operands) collect_atoms(*operand, seen_conditions, out);
}

// A remote situation in which the deny rule denies with the unusable GeoIP subjects unknown:
// nullopt when none exists (the rule needs, say, a local login as well), so the rule loses
// nothing by the missing database.
std::optional<Space::Assignment> geo_deny_witness(const Space& space, const DenyRule& rule,
                                                  const std::vector<std::size_t>& geo_vars) {
  const auto rhost = space.rhost_variable();
  if (!rhost) return std::nullopt;
  auto class_ok = [&](std::size_t v, const Space::Assignment& a, auto accept) {
    if (a[v] < 0) return std::pair{true, false};
    return std::pair{accept(space.variable(v).classes[static_cast<std::size_t>(a[v])]), true};
  };
  auto predicate = [&](const PartialEvaluator& pe) {
    const Space::Assignment& a = pe.assignment();
    bool possible = true;
    bool certain = true;
    const auto [r_ok, r_set] =
        class_ok(*rhost, a, [](const Representative& r) { return r.rhost == RhostKind::address; });
    possible = possible && r_ok;
    certain = certain && r_set && r_ok;
    for (std::size_t v : geo_vars) {
      const auto [g_ok, g_set] = class_ok(
          v, a, [](const Representative& r) { return r.geo.kind == Lookup::Kind::unknown; });
      possible = possible && g_ok;
      certain = certain && g_set && g_ok;
    }
    const TriMask m = pe.condition(*rule.condition);
    possible = possible && (m & (kYes | kUnknown));
    certain = certain && !(m & kNo);
    return Verdict{possible, certain};
  };
  return Search(space, predicate).find();
}

// W109 for a GeoIP subject whose database cannot be used (with `warnings`); with `deny_errors`
// (authpolicy check, enable and status), E027 for each deny rule that then refuses remote logins:
// an unknown subject makes `deny if` deny, so such a rule looks harmless while it locks out every
// remote login it can reach.
void geoip_diagnostics(const Space& space, bool deny_errors, bool warnings,
                       std::vector<Diagnostic>& out) {
  const Policy& policy = space.policy();
  std::set<Subject> unusable;
  std::map<Subject, std::string> problems;
  for (const Subject s : {Subject::country, Subject::asn}) {
    if (!policy.uses_subject(s)) continue;
    std::optional<std::string> problem =
        geoip_problem(policy.geoip, s == Subject::country ? GeoField::country : GeoField::asn);
    if (!problem) continue;
    unusable.insert(s);
    problems[s] = std::move(*problem);
  }
  if (unusable.empty()) return;
  auto key = [](Subject s) { return std::string(s == Subject::country ? "country" : "asn"); };
  auto fix = [&](Subject s) {
    return "set it with geoip { " + key(s) + " = \"/path/to/file.mmdb\" }";
  };

  // Atoms inside deny rules, per rule.
  std::vector<std::vector<std::size_t>> rule_atoms;
  std::set<std::size_t> in_deny;
  for (const DenyRule& rule : policy.denies) {
    std::vector<bool> seen(policy.conditions.size(), false);
    std::vector<std::size_t> atoms;
    if (rule.condition) collect_atoms(*rule.condition, seen, atoms);
    std::sort(atoms.begin(), atoms.end());
    in_deny.insert(atoms.begin(), atoms.end());
    rule_atoms.push_back(std::move(atoms));
  }

  std::set<Subject> reported;  // subjects that got an E027
  if (deny_errors) {
    std::vector<std::size_t> geo_vars;
    for (std::size_t i = 0; i < policy.atoms.size(); ++i) {
      if (!unusable.count(policy.atoms[i].subject)) continue;
      const std::size_t v = space.atom_variable(i);
      if (std::find(geo_vars.begin(), geo_vars.end(), v) == geo_vars.end()) geo_vars.push_back(v);
    }
    for (std::size_t r = 0; r < policy.denies.size(); ++r) {
      const DenyRule& rule = policy.denies[r];
      const auto first =
          std::find_if(rule_atoms[r].begin(), rule_atoms[r].end(),
                       [&](std::size_t i) { return unusable.count(policy.atoms[i].subject) > 0; });
      if (first == rule_atoms[r].end()) continue;
      const Atom& atom = policy.atoms[*first];
      std::optional<Space::Assignment> witness;
      bool searched = true;
      try {
        witness = geo_deny_witness(space, rule, geo_vars);
      } catch (const Budget&) {
        searched = false;  // too large to search: say what the rule reads as, without proof
      }
      if (searched && !witness) continue;
      std::string subjects;
      std::vector<std::string> causes;
      int reported_here = 0;
      for (const Subject s : unusable) {
        const bool used = std::any_of(rule_atoms[r].begin(), rule_atoms[r].end(),
                                      [&](std::size_t i) { return policy.atoms[i].subject == s; });
        if (!used) continue;
        subjects += (subjects.empty() ? "rhost." : " and rhost.") + key(s);
        causes.push_back("GeoIP database for rhost." + key(s) + " cannot be used: " + problems[s]);
        reported.insert(s);
        ++reported_here;
      }
      const auto residual = DenyResidual(policy, unusable).not_false(*rule.condition);
      std::string who = "every remote login";
      if (!residual)
        who += " that the rest of this rule matches";
      else if (residual->text)
        who += " where " + *residual->text;
      out.push_back({Severity::error,
                     "E027",
                     join(causes, "; ") + "; " + subjects + (reported_here > 1 ? " are" : " is") +
                         " then unknown for every remote login, and 'deny if' denies on "
                         "unknown: this rule denies " +
                         who,
                     atom.location,
                     {fix(atom.subject)}});
    }
  }

  if (!warnings) return;
  for (const Subject s : unusable) {
    // With E027s for this subject, W109 only for its atoms outside the deny rules.
    const Atom* at = nullptr;
    for (std::size_t i = 0; i < policy.atoms.size() && !at; ++i) {
      if (policy.atoms[i].subject != s) continue;
      if (reported.count(s) && in_deny.count(i)) continue;
      at = &policy.atoms[i];
    }
    if (!at) continue;
    out.push_back({Severity::warning,
                   "W109",
                   "GeoIP database for rhost." + key(s) + " cannot be used: " + problems[s] +
                       "; every rhost." + key(s) +
                       " condition will be unknown (deny if: denies; unless: never waives)",
                   at->location,
                   {fix(s)}});
  }
}

// W112: at the top level of auth, `password || totp` (or a pam() factor) lets one factor that
// is no stronger than the password replace it entirely: a stolen phone or a weak module opens the
// account alone. A single factor beside an alternative that asks the password is what an admin
// usually meant as a second step (`password && totp`).
void weaker_alternative_warning(const Policy& policy, std::vector<Diagnostic>& out) {
  const Expr& auth = *policy.auth;
  if (auth.kind != Expr::Kind::any_of) return;
  auto is_password = [&](const Expr* e) {
    return e->kind == Expr::Kind::factor &&
           policy.factors[e->factor].kit->traits.password;
  };
  auto asks_password = [&](const Expr* e) {
    if (is_password(e)) return true;
    return e->kind == Expr::Kind::all_of &&
           std::any_of(e->operands.begin(), e->operands.end(), is_password);
  };
  if (std::none_of(auth.operands.begin(), auth.operands.end(), asks_password)) return;
  for (const Expr* operand : auth.operands) {
    if (operand->kind != Expr::Kind::factor) continue;
    const FactorSpec& spec = policy.factors[operand->factor];
    if (!spec.kit->traits.weak_second_step) continue;
    out.push_back({Severity::warning,
                   "W112",
                   "'" + spec.name + "' alone can replace the password: whoever passes " +
                       spec.name + " gets in without it",
                   operand->location,
                   {"as a second step write 'password && " + spec.name +
                    "'; as a deliberate alternative, pair it with another factor"}});
  }
}

Diagnostic too_complex(const Policy& policy, const Budget& budget) {
  return {Severity::error,
          "E025",
          "policy too complex to verify (more than " +
              (budget.situations ? std::to_string(kSearchBudget) + " situations to examine"
                                 : std::to_string(kWorkBudget) + " units of analysis work") +
              ")",
          policy.auth_location,
          {"split it or simplify its conditions"}};
}

}  // namespace

void analyse_policy(const Policy& policy, const LoadOptions& options,
                    std::vector<Diagnostic>& diagnostics, AnalysisCost* cost) {
  if (!policy.auth) return;
  std::optional<Space> built;
  try {
    built.emplace(policy);
  } catch (const Budget& budget) {
    diagnostics.push_back(too_complex(policy, budget));
    if (cost) cost->work = kWorkBudget;
    return;
  }
  const Space& space = *built;
  // Reports the work done however the analysis ends.
  struct Report {
    const Space& space;
    AnalysisCost* cost;
    ~Report() {
      if (cost) cost->work = space.work();
    }
  } report{space, cost};
  OperandChecker operands(space, diagnostics);
  try {
    // E016: auth passes with no factor asked and no explicit permit.
    Mode implicit{Mode::FactorBehaviour::nonpass, false, std::nullopt};
    if (auto witness = Search(space, permits(policy, implicit)).find()) {
      diagnostics.push_back({Severity::error,
                             "E016",
                             "implicit open path: auth can pass without asking any factor",
                             policy.auth_location,
                             {"opens without any factor when: " + when(space, *witness)}});
      return;
    }
    if (!options.warnings) {
      if (options.geoip_deny_errors) geoip_diagnostics(space, true, false, diagnostics);
      return;
    }
    if (const Expr* permit = operands.first_permit(*policy.auth)) {
      Mode explicit_mode{Mode::FactorBehaviour::nonpass, true, std::nullopt};
      const auto witness = Search(space, permits(policy, explicit_mode)).find();
      diagnostics.push_back(
          {Severity::warning,
           "W107",
           witness ? "explicit permit: auth passes without asking any factor when: " +
                         when(space, *witness)
                   : "explicit permit: this path passes without asking the factors beside it",
           permit->location,
           {}});
    }
    Mode all_pass{Mode::FactorBehaviour::pass, true, std::nullopt};
    if (!Search(space, permits(policy, all_pass)).find()) {
      diagnostics.push_back({Severity::warning,
                             "W110",
                             "this policy can never permit anyone: every situation is denied",
                             policy.auth_location,
                             {}});
    } else {
      for (std::size_t f = 0; f < policy.factors.size(); ++f) {
        const FactorSpec& spec = policy.factors[f];
        if (!spec.lockout || !spec.used) continue;
        Mode without{Mode::FactorBehaviour::pass, true, f};
        const Predicate with_it = permits(policy, all_pass);
        const Predicate without_it = permits(policy, without);
        auto no_alternative = [&](const PartialEvaluator& pe) {
          const Verdict a = with_it(pe);
          const Verdict b = without_it(pe);
          return Verdict{a.possible && !b.certain, a.certain && !b.possible};
        };
        if (auto witness = Search(space, no_alternative).find()) {
          const auto situation = space.describe_situation(*witness);
          diagnostics.push_back(
              {Severity::warning,
               "W108",
               "'" + spec.name + "' locks itself after repeated failures and has no alternative" +
                   (situation.empty() ? std::string{} : " when: " + join(situation, ", ")),
               spec.location,
               {"a locked " + spec.name + " locks the user out; add a fallback such as '" +
                spec.name + " || password'"}});
        }
      }
    }
    operands.visit(*policy.auth, {});
  } catch (const Budget& budget) {
    diagnostics.push_back(too_complex(policy, budget));
    return;
  }
  if (!options.warnings) return;
  geoip_diagnostics(space, options.geoip_deny_errors, true, diagnostics);
  weaker_alternative_warning(policy, diagnostics);
  for (const auto& spec : policy.factors) {
    if (!spec.kit->traits.needs_origin || !spec.used || spec.settings.has("origin")) continue;
    const SettingRule* origin = spec.kit->setting("origin");
    const std::string fallback = origin ? std::string(origin->default_text) : "the host name";
    diagnostics.push_back(
        {Severity::warning,
         "W111",
         spec.name + " has no explicit origin: it defaults to " + fallback +
             ", and renaming the host silently breaks every enrolled key",
         spec.location,
         {"set it: factor " + spec.name + " { origin = \"pam://myhost\" }"}});
  }
}

}  // namespace authpolicy
