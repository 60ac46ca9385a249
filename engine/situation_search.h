// Partial evaluation of a policy over a partly assigned situation, and the search that finds a
// situation where a property holds. Internal to the analysis.
#pragma once

#include "engine/situation_space.h"

namespace authpolicy::analysis {

// ---- Partial evaluation ----------------------------------------------------------------------

// How factors behave in one question: all unavailable (can auth pass with nothing asked?), all
// passing (can anyone get in?), all passing but one failing (is there an alternative?).
struct Mode {
  enum class FactorBehaviour { nonpass, pass };
  FactorBehaviour factors = FactorBehaviour::nonpass;
  bool permit_passes = true;
  std::optional<std::size_t> failing_factor;

  bool operator==(const Mode&) const = default;
};

// Evaluates conditions and expressions under one partial assignment. Results are memoised per
// node (and, for expressions, per mode), so a node shared through lets is evaluated once however
// many paths reach it: the cost is linear in the policy's size, not in its unfolding.
class PartialEvaluator {
 public:
  PartialEvaluator(const Space& space, const Space::Assignment& a) : space_(space), a_(a) {}

  const Space::Assignment& assignment() const { return a_; }

  TriMask condition(const Condition& c) const {
    if (condition_memo_.empty()) condition_memo_.assign(space_.condition_count(), 0);
    auto& slot = condition_memo_.at(c.id);
    if (slot == 0) {
      space_.charge();
      slot = compute_condition(c);
    }
    return slot;
  }

  ResultMask expression(const Expr& e, const Mode& mode) const {
    auto& memo = memo_for(mode);
    auto& slot = memo.at(e.id);
    if (slot == 0) {
      space_.charge();
      slot = compute_expression(e, mode);
    }
    return slot;
  }

  // Whether no deny rule fires: {possible, certain}.
  std::pair<bool, bool> no_deny() const {
    bool possible = true;
    bool certain = true;
    for (const auto& rule : space_.policy().denies) {
      const TriMask m = condition(*rule.condition);
      possible = possible && (m & kNo);
      certain = certain && m == kNo;
    }
    return {possible, certain};
  }

 private:
  const Space& space_;
  const Space::Assignment& a_;
  // 0: not computed yet (every computed mask has at least one bit set).
  mutable std::vector<TriMask> condition_memo_;
  mutable std::vector<std::pair<Mode, std::vector<ResultMask>>> expression_memo_;

  std::vector<ResultMask>& memo_for(const Mode& mode) const {
    for (auto& [m, memo] : expression_memo_) {
      if (m == mode) return memo;
    }
    expression_memo_.emplace_back(mode, std::vector<ResultMask>(space_.expr_count(), 0));
    return expression_memo_.back().second;
  }

  TriMask compute_condition(const Condition& c) const {
    switch (c.kind) {
      case Condition::Kind::atom:
        return space_.atom_mask(c.atom, a_);
      case Condition::Kind::negation: {
        const TriMask m = condition(*c.operands.at(0));
        return ((m & kYes) ? kNo : 0) | ((m & kNo) ? kYes : 0) | (m & kUnknown);
      }
      case Condition::Kind::conjunction:
      case Condition::Kind::disjunction: {
        const bool conj = c.kind == Condition::Kind::conjunction;
        TriMask acc = conj ? kYes : kNo;
        for (const auto* operand : c.operands) {
          const TriMask m = condition(*operand);
          TriMask next = 0;
          for (TriMask x : {kYes, kNo, kUnknown}) {
            if (!(acc & x)) continue;
            for (TriMask y : {kYes, kNo, kUnknown}) {
              if (!(m & y)) continue;
              next |= conj ? and3(x, y) : or3(x, y);
            }
          }
          acc = next;
        }
        return acc;
      }
    }
    return kAnyTri;
  }

  ResultMask compute_expression(const Expr& e, const Mode& mode) const {
    switch (e.kind) {
      case Expr::Kind::factor: {
        if (mode.factors == Mode::FactorBehaviour::nonpass) return kNonPass;
        if (mode.failing_factor && *mode.failing_factor == e.factor) return kNonPass;
        const FactorSpec& spec = space_.policy().factors[e.factor];
        if (spec.presence && !spec.remote_allowed) {
          const ResultMask remote = space_.remote_mask(a_);
          return ((remote & kNonPass) ? kPass : 0) | ((remote & kPass) ? kNonPass : 0);
        }
        return kPass;
      }
      case Expr::Kind::permit:
        return mode.permit_passes ? kPass : kNonPass;
      case Expr::Kind::any_of:
      case Expr::Kind::all_of:
      case Expr::Kind::k_of: {
        std::size_t can_pass = 0;
        std::size_t can_fail = 0;
        for (const auto* operand : e.operands) {
          const ResultMask m = expression(*operand, mode);
          can_pass += (m & kPass) ? 1 : 0;
          can_fail += (m & kNonPass) ? 1 : 0;
        }
        const std::size_t n = e.operands.size();
        const std::size_t k = e.kind == Expr::Kind::any_of   ? 1
                              : e.kind == Expr::Kind::all_of ? n
                                                             : e.k;
        return (can_pass >= k ? kPass : 0) | (can_fail >= n - k + 1 ? kNonPass : 0);
      }
      case Expr::Kind::guarded: {
        ResultMask m = expression(*e.operands.at(0), mode);
        for (const auto& g : e.guards) {
          const TriMask c = condition(*g.condition);
          const bool can_waive = g.unless ? (c & kYes) : (c & kNo);
          const bool can_apply = g.unless ? (c & (kNo | kUnknown)) : (c & (kYes | kUnknown));
          m = (can_waive ? kPass : 0) | (can_apply ? m : 0);
        }
        return m;
      }
    }
    return kPass | kNonPass;
  }

  static TriMask and3(TriMask x, TriMask y) {
    if (x == kNo || y == kNo) return kNo;
    if (x == kUnknown || y == kUnknown) return kUnknown;
    return kYes;
  }
  static TriMask or3(TriMask x, TriMask y) {
    if (x == kYes || y == kYes) return kYes;
    if (x == kUnknown || y == kUnknown) return kUnknown;
    return kNo;
  }
};

struct Verdict {
  bool possible;
  bool certain;
};

using Predicate = std::function<Verdict(const PartialEvaluator&)>;

// "No deny fires and auth passes" in the given mode.
inline Predicate permits(const Policy& policy, Mode mode) {
  return [&policy, mode](const PartialEvaluator& pe) {
    const auto [possible, certain] = pe.no_deny();
    const ResultMask m = pe.expression(*policy.auth, mode);
    return Verdict{possible && (m & kPass), certain && m == kPass};
  };
}

// Depth-first search for an assignment that makes the predicate certain.
class Search {
 public:
  Search(const Space& space, Predicate predicate)
      : space_(space), predicate_(std::move(predicate)) {}

  std::optional<Space::Assignment> find() {
    Space::Assignment a = space_.empty_assignment();
    if (dfs(a)) return a;
    return std::nullopt;
  }

 private:
  const Space& space_;
  Predicate predicate_;
  std::size_t steps_ = 0;

  bool dfs(Space::Assignment& a) {
    if (++steps_ > kSearchBudget) throw Budget{true};
    const Verdict v = predicate_(PartialEvaluator(space_, a));
    if (!v.possible) return false;
    if (v.certain) return true;
    for (std::size_t var = 0; var < space_.variable_count(); ++var) {
      if (a[var] >= 0 || !space_.relevant(var, a)) continue;
      for (std::size_t c = 0; c < space_.variable(var).classes.size(); ++c) {
        a[var] = static_cast<int>(c);
        if (dfs(a)) return true;
      }
      a[var] = -1;
      return false;
    }
    return false;
  }
};

inline std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

}  // namespace authpolicy::analysis
