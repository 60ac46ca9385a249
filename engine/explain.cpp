// `authpolicy explain`: the accepted factor combinations in every situation class, merged and
// said in the fewest conditions that do not change the answer.
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

// ---- Explanation -----------------------------------------------------------------------------

namespace {

using Combination = std::set<std::string>;
using Combinations = std::set<Combination>;

Combinations minimal(Combinations in, const Space& space) {
  space.charge(in.size() * in.size());
  Combinations out;
  for (const auto& c : in) {
    const bool has_subset = std::any_of(in.begin(), in.end(), [&](const Combination& other) {
      return other != c && std::includes(c.begin(), c.end(), other.begin(), other.end());
    });
    if (!has_subset) out.insert(c);
  }
  return out;
}

Combinations product(const Combinations& a, const Combinations& b, const Space& space) {
  space.charge(a.size() * b.size());
  Combinations out;
  for (const auto& x : a) {
    for (const auto& y : b) {
      Combination c = x;
      c.insert(y.begin(), y.end());
      out.insert(std::move(c));
    }
  }
  return minimal(std::move(out), space);
}

class Explainer {
 public:
  Explainer(const Space& space) : space_(space), policy_(space.policy()) {}

  Explanation run(const ExplainOptions& options) {
    Explanation result;
    Space::Assignment a = space_.empty_assignment();
    if (options.ssh_nothing_completed) space_.pin_ssh_nothing_completed(a);
    try {
      walk(a, result);
    } catch (const Budget&) {
      result.complete = false;
    }
    return result;
  }

 private:
  const Space& space_;
  const Policy& policy_;
  std::size_t steps_ = 0;

 public:
  std::vector<Space::Assignment> leaves_;  // the situation class of each row, in row order

 private:
  // Everything that shapes the answer is fixed: deny rules, guards, presence.
  bool settled(const PartialEvaluator& pe, const Space::Assignment& a) const {
    for (const auto& rule : policy_.denies) {
      const TriMask m = pe.condition(*rule.condition);
      if (m != kNo && (m & kNo)) return false;
    }
    for (const auto& node : policy_.expressions) {
      if (node->kind != Expr::Kind::guarded) continue;
      for (const auto& g : node->guards) {
        const TriMask m = pe.condition(*g.condition);
        const bool waive = g.unless ? (m & kYes) : (m & kNo);
        const bool apply = g.unless ? (m & (kNo | kUnknown)) : (m & (kYes | kUnknown));
        if (waive && apply) return false;
      }
    }
    for (const auto& spec : policy_.factors) {
      if (spec.used && spec.presence && !spec.remote_allowed &&
          space_.remote_mask(a) == (kPass | kNonPass)) {
        return false;
      }
    }
    return true;
  }

  // Memoised per node within one situation (`memo`), and charged to the budget by the number of
  // combinations built, so shared lets and wide k-of nodes cannot run away.
  using ComboMemo = std::unordered_map<const Expr*, Combinations>;

  Combinations combinations(const Expr& e, const PartialEvaluator& pe, const Space::Assignment& a,
                            ComboMemo& memo) const {
    if (auto it = memo.find(&e); it != memo.end()) return it->second;
    Combinations out = compute_combinations(e, pe, a, memo);
    space_.charge(1 + out.size());
    memo.emplace(&e, out);
    return out;
  }

  Combinations compute_combinations(const Expr& e, const PartialEvaluator& pe,
                                    const Space::Assignment& a, ComboMemo& memo) const {
    switch (e.kind) {
      case Expr::Kind::factor: {
        const FactorSpec& spec = policy_.factors[e.factor];
        if (spec.presence && !spec.remote_allowed && space_.remote_mask(a) == kPass) return {};
        return {{spec.name}};
      }
      case Expr::Kind::permit:
        return {{}};
      case Expr::Kind::any_of: {
        Combinations out;
        for (const auto* o : e.operands) {
          auto c = combinations(*o, pe, a, memo);
          out.insert(c.begin(), c.end());
        }
        return minimal(std::move(out), space_);
      }
      case Expr::Kind::all_of: {
        Combinations out = {{}};
        for (const auto* o : e.operands) out = product(out, combinations(*o, pe, a, memo), space_);
        return out;
      }
      case Expr::Kind::k_of: {
        Combinations out;
        const std::size_t n = e.operands.size();
        for (unsigned mask = 0; mask < (1u << std::min<std::size_t>(n, 16)); ++mask) {
          if (static_cast<std::size_t>(__builtin_popcount(mask)) != e.k) continue;
          Combinations c = {{}};
          for (std::size_t i = 0; i < n; ++i) {
            if (mask & (1u << i)) c = product(c, combinations(*e.operands[i], pe, a, memo), space_);
          }
          out.insert(c.begin(), c.end());
        }
        return minimal(std::move(out), space_);
      }
      case Expr::Kind::guarded: {
        for (auto g = e.guards.rbegin(); g != e.guards.rend(); ++g) {
          const TriMask m = pe.condition(*g->condition);
          if (g->unless ? m == kYes : m == kNo) return {{}};
        }
        return combinations(*e.operands.at(0), pe, a, memo);
      }
    }
    return {};
  }

  void walk(Space::Assignment& a, Explanation& out) {
    if (++steps_ > kSearchBudget) throw Budget{true};
    const PartialEvaluator pe(space_, a);
    if (settled(pe, a)) {
      Explanation::Row row;
      row.situation = space_.describe_situation(a);
      for (const auto& rule : policy_.denies) {
        if (pe.condition(*rule.condition) != kNo) {
          row.denied = true;
          row.deny_rule = "deny if " + rule.text;
          break;
        }
      }
      if (!row.denied) {
        ComboMemo memo;
        for (const auto& c : combinations(*policy_.auth, pe, a, memo)) {
          row.accepted.emplace_back(c.begin(), c.end());
        }
      }
      leaves_.push_back(a);
      out.rows.push_back(std::move(row));
      return;
    }
    for (std::size_t var = 0; var < space_.variable_count(); ++var) {
      if (a[var] >= 0 || !space_.relevant(var, a)) continue;
      for (std::size_t c = 0; c < space_.variable(var).classes.size(); ++c) {
        a[var] = static_cast<int>(c);
        walk(a, out);
      }
      a[var] = -1;
      return;
    }
  }
};

// ---- Readable explanations ------------------------------------------------------------------
//
// The explainer's rows partition the situations into classes (a class per subject, or any class
// where the subject does not matter). For each distinct answer, the rows giving it are merged
// into few "cubes" (per subject, a set of classes): two cubes that differ in one subject become
// one, and a subject is dropped from a cube whenever every situation the larger cube covers gets
// the same answer. Each cube is then said in the fewest conditions that pick out exactly its
// classes.

class Simplifier {
 public:
  explicit Simplifier(const Space& space) : space_(space), policy_(space.policy()) {}

  using Cube = std::vector<std::vector<bool>>;  // [variable][class] allowed

  Cube leaf_cube(const Space::Assignment& a) const {
    Cube cube(space_.variable_count());
    for (std::size_t v = 0; v < cube.size(); ++v) {
      const std::size_t n = space_.variable(v).classes.size();
      cube[v].assign(n, a[v] < 0);
      if (a[v] >= 0) cube[v][static_cast<std::size_t>(a[v])] = true;
    }
    return cube;
  }

  static bool intersects(const Cube& x, const Cube& y) {
    for (std::size_t v = 0; v < x.size(); ++v) {
      bool any = false;
      for (std::size_t c = 0; c < x[v].size() && !any; ++c) any = x[v][c] && y[v][c];
      if (!any) return false;
    }
    return true;
  }
  static bool contains(const Cube& outer, const Cube& inner) {
    for (std::size_t v = 0; v < outer.size(); ++v) {
      for (std::size_t c = 0; c < outer[v].size(); ++c) {
        if (inner[v][c] && !outer[v][c]) return false;
      }
    }
    return true;
  }
  static bool full(const std::vector<bool>& set) {
    return std::all_of(set.begin(), set.end(), [](bool b) { return b; });
  }

  // Few cubes covering exactly `mine` (leaf cubes of one answer); `others` are the rest.
  std::vector<Cube> cover(std::vector<Cube> cubes, const std::vector<Cube>& others) const {
    for (bool merged = true; merged;) {
      merged = false;
      for (std::size_t i = 0; i < cubes.size() && !merged; ++i) {
        for (std::size_t j = i + 1; j < cubes.size() && !merged; ++j) {
          std::size_t differing = 0, where = 0;
          for (std::size_t v = 0; v < cubes[i].size(); ++v) {
            if (cubes[i][v] != cubes[j][v]) ++differing, where = v;
          }
          if (differing > 1) continue;
          for (std::size_t c = 0; c < cubes[i][where].size(); ++c) {
            cubes[i][where][c] = cubes[i][where][c] || cubes[j][where][c];
          }
          cubes.erase(cubes.begin() + static_cast<std::ptrdiff_t>(j));
          merged = true;
        }
      }
    }
    // Drop a subject from a cube when no other answer lies in the larger cube.
    for (auto& cube : cubes) {
      for (std::size_t v = 0; v < cube.size(); ++v) {
        if (full(cube[v])) continue;
        const auto saved = cube[v];
        cube[v].assign(saved.size(), true);
        const bool clash = std::any_of(others.begin(), others.end(),
                                       [&](const Cube& o) { return intersects(cube, o); });
        if (clash) cube[v] = saved;
      }
    }
    std::vector<Cube> kept;
    for (std::size_t i = 0; i < cubes.size(); ++i) {
      bool inside = false;
      for (std::size_t j = 0; j < cubes.size() && !inside; ++j) {
        if (j == i) continue;
        inside = contains(cubes[j], cubes[i]) && (!contains(cubes[i], cubes[j]) || j < i);
      }
      if (!inside) kept.push_back(cubes[i]);
    }
    return kept;
  }

  // The conditions a cube stands for, subject by subject.
  std::vector<std::string> describe(const Cube& cube) const {
    std::vector<std::string> out;
    for (std::size_t v = 0; v < cube.size(); ++v) {
      if (full(cube[v])) continue;
      const std::vector<std::string> terms = describe_set(v, cube[v]);
      if (terms.size() == 1) {
        out.push_back(terms[0]);
        continue;
      }
      std::string text;
      for (const auto& t : terms) {
        const bool compound = t.find(" and ") != std::string::npos;
        text += (text.empty() ? "(" : " or ") + (compound ? "(" + t + ")" : t);
      }
      out.push_back(text + ")");
    }
    return out;
  }

 private:
  const Space& space_;
  const Policy& policy_;

  struct Predicate {
    std::string text;
    std::vector<bool> holds;  // per class
  };

  std::vector<Predicate> predicates(std::size_t v) const {
    const auto& classes = space_.variable(v).classes;
    std::vector<Predicate> out;
    auto add = [&](std::string text, auto test) {
      Predicate p{std::move(text), std::vector<bool>(classes.size())};
      for (std::size_t c = 0; c < classes.size(); ++c) p.holds[c] = test(classes[c]);
      out.push_back(std::move(p));
    };
    if (space_.rhost_variable() == v) {
      add("no rhost (a local request)",
          [](const Representative& r) { return r.rhost == RhostKind::absent; });
      add("rhost is a host name (never resolved)",
          [](const Representative& r) { return r.rhost == RhostKind::hostname; });
      add("a remote request", [](const Representative& r) {
        return r.rhost == RhostKind::hostname ||
               (r.rhost == RhostKind::address && !r.address.is_loopback());
      });
      add("a local request", [](const Representative& r) {
        return r.rhost == RhostKind::absent ||
               (r.rhost == RhostKind::address && r.address.is_loopback());
      });
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < policy_.atoms.size(); ++i) {
      if (space_.atom_variable(i) != v) continue;
      const Atom& atom = policy_.atoms[i];
      for (Tri t : {Tri::yes, Tri::no, Tri::unknown}) {
        std::string text = Space::state(atom, mask_of(t));
        if (!seen.insert(text).second) continue;
        add(std::move(text), [&](const Representative& r) { return atom_value(atom, r) == t; });
      }
    }
    return out;
  }

  // Terms (each a conjunction of predicates) whose union is exactly `set`: for each class the
  // shortest conjunction true of it that stays within the set, then the widest terms first.
  std::vector<std::string> describe_set(std::size_t v, const std::vector<bool>& set) const {
    const std::vector<Predicate> all = predicates(v);
    auto matched = [&](const std::vector<const Predicate*>& ps) {
      std::vector<bool> m(set.size(), true);
      for (const Predicate* p : ps) {
        for (std::size_t k = 0; k < m.size(); ++k) m[k] = m[k] && p->holds[k];
      }
      return m;
    };
    auto within = [&](const std::vector<bool>& m) {
      for (std::size_t k = 0; k < m.size(); ++k) {
        if (m[k] && !set[k]) return false;
      }
      return true;
    };
    struct Term {
      std::string text;
      std::vector<bool> covers;
      std::size_t width = 0;
    };
    std::vector<Term> candidates;
    for (std::size_t c = 0; c < set.size(); ++c) {
      if (!set[c]) continue;
      // Everything true of class c, then drop what is not needed, latest first (the rhost
      // kinds come first and are kept longest).
      std::vector<const Predicate*> chosen;
      for (const auto& p : all) {
        if (p.holds[c]) chosen.push_back(&p);
      }
      for (std::size_t i = chosen.size(); i-- > 0;) {
        auto fewer = chosen;
        fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(i));
        if (within(matched(fewer))) chosen = std::move(fewer);
      }
      Term term;
      term.covers = matched(chosen);
      term.width =
          static_cast<std::size_t>(std::count(term.covers.begin(), term.covers.end(), true));
      for (const Predicate* p : chosen) term.text += (term.text.empty() ? "" : " and ") + p->text;
      if (term.text.empty()) term.text = "always";
      candidates.push_back(std::move(term));
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Term& a, const Term& b) { return a.width > b.width; });
    std::vector<bool> covered(set.size(), false);
    std::vector<std::string> terms;
    for (const auto& term : candidates) {
      bool adds = false;
      for (std::size_t k = 0; k < set.size(); ++k) adds = adds || (term.covers[k] && !covered[k]);
      if (!adds) continue;
      for (std::size_t k = 0; k < set.size(); ++k) covered[k] = covered[k] || term.covers[k];
      terms.push_back(term.text);
    }
    return terms;
  }
};

// One situation text per answer: conditions every cube shares first, then the alternatives.
std::string answer_situation(const std::vector<std::vector<std::string>>& cubes) {
  if (cubes.empty()) return "never";
  std::vector<std::string> common;
  for (const auto& literal : cubes[0]) {
    const bool everywhere = std::all_of(cubes.begin(), cubes.end(), [&](const auto& cube) {
      return std::find(cube.begin(), cube.end(), literal) != cube.end();
    });
    if (everywhere && cubes.size() > 1) common.push_back(literal);
  }
  std::vector<std::string> alternatives;
  for (const auto& cube : cubes) {
    std::string text;
    for (const auto& literal : cube) {
      if (std::find(common.begin(), common.end(), literal) != common.end()) continue;
      text += (text.empty() ? "" : " and ") + literal;
    }
    if (!text.empty()) alternatives.push_back(text);
  }
  std::string out;
  for (const auto& c : common) out += (out.empty() ? "" : ", ") + c;
  if (alternatives.size() == 1) {
    out += (out.empty() ? "" : ", ") + alternatives[0];
  } else if (!alternatives.empty()) {
    std::string either;
    for (const auto& a : alternatives) {
      const bool compound = a.find(" and ") != std::string::npos;
      either += (either.empty() ? "" : " or ") + (compound ? "(" + a + ")" : a);
    }
    out += out.empty() ? either : ", and " + (common.empty() ? either : "(" + either + ")");
  }
  return out.empty() ? "always" : out;
}

std::string answer_key(const Explanation::Row& row) {
  if (row.denied) return "deny:" + row.deny_rule;
  std::string key = "accept:";
  for (const auto& combination : row.accepted) {
    for (const auto& f : combination) key += f + "+";
    key += "|";
  }
  return key;
}

}  // namespace

Explanation explain_policy(const Policy& policy, const ExplainOptions& options) {
  std::optional<Space> built;
  try {
    built.emplace(policy);
  } catch (const Budget&) {
    Explanation result;
    result.complete = false;
    return result;
  }
  const Space& space = *built;
  Explainer explainer(space);
  Explanation result = explainer.run(options);
  if (!result.complete) return result;
  const Simplifier simplifier(space);
  std::vector<std::string> keys;
  std::vector<Simplifier::Cube> leaves;
  for (std::size_t i = 0; i < result.rows.size(); ++i) {
    keys.push_back(answer_key(result.rows[i]));
    leaves.push_back(simplifier.leaf_cube(explainer.leaves_[i]));
  }
  std::vector<std::string> order;
  for (const auto& k : keys) {
    if (std::find(order.begin(), order.end(), k) == order.end()) order.push_back(k);
  }
  for (const auto& key : order) {
    std::vector<Simplifier::Cube> mine, others;
    Explanation::Answer answer;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] != key) {
        // Situations a deny rule refuses are said first, before any answer; what accepts
        // factors need not repeat that they are not denied.
        if (!result.rows[i].denied || key.rfind("deny:", 0) == 0) others.push_back(leaves[i]);
        continue;
      }
      mine.push_back(leaves[i]);
      if (mine.size() == 1) {
        answer.denied = result.rows[i].denied;
        answer.deny_rule = result.rows[i].deny_rule;
        answer.accepted = result.rows[i].accepted;
      }
      ++answer.classes;
    }
    std::vector<std::vector<std::string>> described;
    for (const auto& cube : simplifier.cover(std::move(mine), others)) {
      described.push_back(simplifier.describe(cube));
    }
    answer.situation = answer_situation(described);
    result.answers.push_back(std::move(answer));
  }
  return result;
}

}  // namespace authpolicy
