// Deciding properties of a policy over all situations, exactly.
//
// Every condition atom tests one subject (rhost, user, time, ...). Each subject's values fall into
// finitely many classes that no atom can tell apart: the address space cut at every set boundary
// (plus loopback, no rhost, and a host name), the day cut at every window edge, the named users
// plus "anyone else", group membership yes/no/unknown, and so on. A search assigns one class per
// subject, pruning with a partial evaluation that says which results are still possible, so a
// property such as "auth can pass with no factor asked" is decided over correlated atoms, not over
// independent booleans, and a concrete witness situation comes out when it holds.
//
// Lets are shared nodes, so a policy is a DAG whose tree unfolding can be exponential in its size
// (`let l2 = l1 && l1`, `let l3 = l2 && l2`, ...). Every walk over it is therefore memoised per
// node (per partial assignment and mode in the search), and every unit of work (one node
// evaluated, one situation examined, one factor combination built) is charged to one budget per
// analysis: a policy that needs more is refused with E025 instead of hanging the caller, which
// may be sshd or sudo loading the policy.
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

namespace authpolicy {
namespace {

// ---- Masks -----------------------------------------------------------------------------------

using TriMask = unsigned;  // bit per possible condition value
constexpr TriMask kYes = 1, kNo = 2, kUnknown = 4, kAnyTri = 7;

TriMask mask_of(Tri t) {
  return t == Tri::yes ? kYes : t == Tri::no ? kNo : kUnknown;
}

using ResultMask = unsigned;  // bit per possible expression result
constexpr ResultMask kPass = 1, kNonPass = 2;

// ---- Subjects and their classes ----------------------------------------------------------------

enum class RhostKind { absent, hostname, address };

// One concrete value of a subject, standing for its whole class.
struct Representative {
  RhostKind rhost = RhostKind::absent;
  IpAddress address;
  Lookup geo;
  std::string name;
  Tri tri = Tri::no;
  int minute = 0;
  int weekday = 0;
  std::optional<long> count;
};

enum class VarKind {
  rhost,
  country,
  asn,
  user,
  group,
  service,
  tty,
  ruser,
  time,
  weekday,
  failures,
  recent
};

struct Variable {
  VarKind kind = VarKind::user;
  std::string group;
  long window = 0;
  bool by_rhost = false;
  std::vector<Representative> classes;
};

VarKind var_kind(Subject s) {
  switch (s) {
    case Subject::rhost:
    case Subject::rhost_local:
      return VarKind::rhost;
    case Subject::country:
      return VarKind::country;
    case Subject::asn:
      return VarKind::asn;
    case Subject::user:
      return VarKind::user;
    case Subject::group:
      return VarKind::group;
    case Subject::service:
      return VarKind::service;
    case Subject::tty:
      return VarKind::tty;
    case Subject::ruser:
      return VarKind::ruser;
    case Subject::time:
      return VarKind::time;
    case Subject::weekday:
      return VarKind::weekday;
    case Subject::failures:
      return VarKind::failures;
    case Subject::recent:
      return VarKind::recent;
  }
  return VarKind::user;
}

Tri from_bool(bool b) {
  return b ? Tri::yes : Tri::no;
}

// The atom's value when its own subject is `own` (and, for GeoIP atoms, the address is known).
Tri atom_value(const Atom& a, const Representative& own) {
  switch (a.subject) {
    case Subject::rhost:
      if (own.rhost == RhostKind::absent) return Tri::no;
      if (own.rhost == RhostKind::hostname) return Tri::unknown;
      return from_bool(a.addresses->contains(own.address));
    case Subject::rhost_local:
      if (own.rhost == RhostKind::absent) return Tri::yes;
      if (own.rhost == RhostKind::hostname) return Tri::unknown;
      return from_bool(own.address.is_loopback());
    case Subject::country:
    case Subject::asn:
      if (own.geo.kind == Lookup::Kind::unknown) return Tri::unknown;
      if (own.geo.kind == Lookup::Kind::no_value) return Tri::no;
      return from_bool(a.subject == Subject::country ? a.names.count(own.geo.text) > 0
                                                     : a.numbers.count(own.geo.number) > 0);
    case Subject::user:
    case Subject::service:
    case Subject::tty:
    case Subject::ruser:
      return from_bool(a.names.count(own.name) > 0);
    case Subject::group:
      return own.tri;
    case Subject::time:
      return from_bool(std::any_of(a.clock_ranges.begin(), a.clock_ranges.end(),
                                   [&](const ClockRange& r) { return r.contains(own.minute); }));
    case Subject::weekday:
      return from_bool((a.weekdays >> own.weekday) & 1u);
    case Subject::failures:
      if (!own.count) return Tri::unknown;
      return from_bool(compare(*own.count, a.comparison, a.count));
    case Subject::recent:
      return own.tri;
  }
  return Tri::unknown;
}

// Thrown when an analysis would take too long; says which budget ran out.
struct Budget {
  bool situations = false;  // the search step count, else the work units
};

// Hard limits per analysis. Situations bound the search tree; work units bound everything,
// including the cost of each situation (one unit per node evaluated). Both are counts, not wall
// time, so the verdict is the same on every machine.
constexpr std::size_t kSearchBudget = 200000;
constexpr std::size_t kWorkBudget = 20000000;

class Space {
 public:
  // Throws Budget when telling the situations apart alone would cost more than the work budget.
  explicit Space(const Policy& policy) : policy_(policy) {
    presence_matters_ =
        std::any_of(policy.factors.begin(), policy.factors.end(),
                    [](const FactorSpec& f) { return f.used && f.presence && !f.remote_allowed; });
    build_variables();
  }

  const Policy& policy() const { return policy_; }

  // Node counts: memo tables are flat vectors indexed by Expr::id and Condition::id.
  std::size_t expr_count() const { return policy_.expressions.size(); }
  std::size_t condition_count() const { return policy_.conditions.size(); }

  // Charges `units` of work to this analysis; throws Budget past kWorkBudget.
  void charge(std::size_t units = 1) const {
    work_ += units;
    if (work_ > kWorkBudget) throw Budget{false};
  }
  std::size_t work() const { return work_; }
  std::size_t variable_count() const { return vars_.size(); }
  const Variable& variable(std::size_t i) const { return vars_[i]; }
  std::optional<std::size_t> rhost_variable() const { return rhost_var_; }
  std::size_t atom_variable(std::size_t atom) const { return atom_var_[atom]; }

  using Assignment = std::vector<int>;  // class per variable, -1 unassigned
  Assignment empty_assignment() const { return Assignment(vars_.size(), -1); }

  // Which values the atom may still take under a partial assignment.
  TriMask atom_mask(std::size_t atom_index, const Assignment& a) const {
    const Atom& atom = policy_.atoms[atom_index];
    const std::size_t v = atom_var_[atom_index];
    if (atom.subject == Subject::country || atom.subject == Subject::asn) {
      const int r = a[*rhost_var_];
      if (r >= 0) {
        const auto kind = vars_[*rhost_var_].classes[static_cast<std::size_t>(r)].rhost;
        if (kind == RhostKind::absent) return kNo;
        if (kind == RhostKind::hostname) return kUnknown;
      }
      if (a[v] < 0)
        return r >= 0 ? own_union_[atom_index] : own_union_[atom_index] | kNo | kUnknown;
      return mask_of(values_[atom_index][static_cast<std::size_t>(a[v])]);
    }
    if (a[v] < 0) return own_union_[atom_index];
    return mask_of(values_[atom_index][static_cast<std::size_t>(a[v])]);
  }

  // kPass/kNonPass that "this request is remote" may still take (for presence factors).
  ResultMask remote_mask(const Assignment& a) const {
    if (!rhost_var_ || a[*rhost_var_] < 0) return kPass | kNonPass;
    const auto& rep = vars_[*rhost_var_].classes[static_cast<std::size_t>(a[*rhost_var_])];
    if (rep.rhost == RhostKind::absent) return kNonPass;
    if (rep.rhost == RhostKind::hostname) return kPass;
    return rep.address.is_loopback() ? kNonPass : kPass;
  }

  // Whether variable v matters under the assignment (GeoIP needs an address).
  bool relevant(std::size_t v, const Assignment& a) const {
    if (vars_[v].kind != VarKind::country && vars_[v].kind != VarKind::asn) return true;
    const int r = a[*rhost_var_];
    if (r < 0) return true;
    return vars_[*rhost_var_].classes[static_cast<std::size_t>(r)].rhost == RhostKind::address;
  }

  // A concrete request and subject answers for a (partial) assignment: unassigned subjects take
  // their first class.
  void concretise(const Assignment& a, RequestInfo& request, StaticSubjects& subjects) const {
    request.user = "user-not-named";
    request.service = "service-not-named";
    subjects.group_answers.clear();
    for (std::size_t v = 0; v < vars_.size(); ++v) {
      const Representative& rep = vars_[v].classes[static_cast<std::size_t>(std::max(a[v], 0))];
      switch (vars_[v].kind) {
        case VarKind::rhost:
          if (rep.rhost == RhostKind::absent)
            request.rhost.reset();
          else if (rep.rhost == RhostKind::hostname)
            request.rhost = "host.invalid";
          else
            request.rhost = rep.address.to_string();
          break;
        case VarKind::country:
          subjects.country_answer = rep.geo;
          break;
        case VarKind::asn:
          subjects.asn_answer = rep.geo;
          break;
        case VarKind::user:
          request.user = rep.name;
          break;
        case VarKind::service:
          request.service = rep.name;
          break;
        case VarKind::tty:
          request.tty = rep.name;
          break;
        case VarKind::ruser:
          request.ruser = rep.name;
          break;
        case VarKind::group:
          subjects.group_answers[vars_[v].group] = rep.tri;
          break;
        case VarKind::time:
          subjects.time.minute_of_day = rep.minute;
          break;
        case VarKind::weekday:
          subjects.time.weekday = rep.weekday;
          break;
        case VarKind::failures:
          subjects.failure_answers[{vars_[v].window, vars_[v].by_rhost}] = rep.count;
          break;
        case VarKind::recent:
          subjects.recent_answers[vars_[v].group] = rep.tri;
          break;
      }
    }
  }

  // The situation in words: every atom whose value the assignment fixes.
  std::vector<std::string> describe_situation(const Assignment& a) const {
    std::vector<std::string> out;
    std::set<std::string> seen;
    if (rhost_var_ && a[*rhost_var_] >= 0) {
      const auto& rep = vars_[*rhost_var_].classes[static_cast<std::size_t>(a[*rhost_var_])];
      if (rep.rhost == RhostKind::absent) out.push_back("no rhost (a local request)");
      if (rep.rhost == RhostKind::hostname) {
        out.push_back("rhost is a host name (never resolved, so address conditions are unknown)");
      }
    }
    for (std::size_t i = 0; i < policy_.atoms.size(); ++i) {
      const Atom& atom = policy_.atoms[i];
      const TriMask m = atom_mask(i, a);
      if (m != kYes && m != kNo && m != kUnknown) continue;
      const std::size_t v = atom_var_[i];
      const bool rhost_derived =
          vars_[v].kind == VarKind::rhost ||
          ((vars_[v].kind == VarKind::country || vars_[v].kind == VarKind::asn) && a[v] < 0);
      if (rhost_derived && rhost_var_ && a[*rhost_var_] >= 0 &&
          vars_[*rhost_var_].classes[static_cast<std::size_t>(a[*rhost_var_])].rhost !=
              RhostKind::address) {
        continue;  // already said by "no rhost" / "host name"
      }
      if (!seen.insert(atom.text).second) continue;
      out.push_back(state(atom, m));
    }
    if (presence_matters_ && rhost_var_ && a[*rhost_var_] >= 0) {
      const auto& rep = vars_[*rhost_var_].classes[static_cast<std::size_t>(a[*rhost_var_])];
      if (rep.rhost == RhostKind::address) {
        out.push_back(rep.address.is_loopback() ? "a local request (loopback rhost)"
                                                : "a remote request");
      }
    }
    return out;
  }

  static std::string state(const Atom& atom, TriMask m) {
    if (m == kYes) return atom.text;
    if (m == kUnknown) return atom.text + " is unknown";
    if (atom.subject == Subject::rhost_local) return "rhost is not local";
    if (atom.subject == Subject::recent) return "not " + atom.text;
    if (atom.subject == Subject::failures) {
      static const std::map<Comparison, std::pair<std::string, std::string>> inverse = {
          {Comparison::ge, {">=", "<"}},  {Comparison::gt, {">", "<="}},
          {Comparison::le, {"<=", ">"}},  {Comparison::lt, {"<", ">="}},
          {Comparison::eq, {"==", "!="}}, {Comparison::ne, {"!=", "=="}}};
      const auto& [op, inv] = inverse.at(atom.comparison);
      std::string text = atom.text;
      const auto at = text.rfind(" " + op + " ");
      if (at != std::string::npos) text.replace(at + 1, op.size(), inv);
      return text;
    }
    std::string text = atom.text;
    const auto at = text.find(" in ");
    if (at != std::string::npos) text.replace(at, 4, " not in ");
    return text;
  }

 private:
  const Policy& policy_;
  bool presence_matters_ = false;
  std::vector<Variable> vars_;
  std::optional<std::size_t> rhost_var_;
  std::vector<std::size_t> atom_var_;
  std::vector<std::vector<Tri>> values_;  // [atom][class of its variable]
  std::vector<TriMask> own_union_;        // [atom] union over the variable's classes
  mutable std::size_t work_ = 0;

  std::size_t variable_for(const Atom& atom) {
    const VarKind kind = var_kind(atom.subject);
    for (std::size_t i = 0; i < vars_.size(); ++i) {
      const Variable& v = vars_[i];
      if (v.kind != kind) continue;
      if (kind == VarKind::group && v.group != atom.group) continue;
      // One variable per distinct recent() atom (keyed like StaticSubjects answers them).
      if (kind == VarKind::recent && v.group != recent_key(atom)) continue;
      if (kind == VarKind::failures &&
          (v.window != atom.window.count() || v.by_rhost != atom.by_rhost)) {
        continue;
      }
      return i;
    }
    Variable v;
    v.kind = kind;
    v.group = kind == VarKind::recent ? recent_key(atom) : atom.group;
    v.window = static_cast<long>(atom.window.count());
    v.by_rhost = atom.by_rhost;
    vars_.push_back(std::move(v));
    return vars_.size() - 1;
  }

  void build_variables() {
    const bool needs_rhost =
        presence_matters_ ||
        std::any_of(policy_.atoms.begin(), policy_.atoms.end(), [](const Atom& a) {
          return var_kind(a.subject) == VarKind::rhost || a.subject == Subject::country ||
                 a.subject == Subject::asn;
        });
    if (needs_rhost) {
      vars_.push_back(Variable{VarKind::rhost, {}, 0, false, {}});
      rhost_var_ = 0;
    }
    atom_var_.resize(policy_.atoms.size());
    for (std::size_t i = 0; i < policy_.atoms.size(); ++i) {
      const Atom& atom = policy_.atoms[i];
      atom_var_[i] = var_kind(atom.subject) == VarKind::rhost ? *rhost_var_ : variable_for(atom);
    }
    for (std::size_t v = 0; v < vars_.size(); ++v) {
      std::vector<std::size_t> atoms;
      for (std::size_t i = 0; i < atom_var_.size(); ++i) {
        if (atom_var_[i] == v) atoms.push_back(i);
      }
      auto candidates = candidates_for(vars_[v], atoms);
      // Keep one representative per distinct signature (what the atoms can tell apart), the
      // first in candidate order. Signatures sit in one flat buffer and are deduplicated by
      // sorting: the module runs this on every policy load, so no allocation per candidate.
      const bool is_rhost = vars_[v].kind == VarKind::rhost;
      const bool is_geo = vars_[v].kind == VarKind::country || vars_[v].kind == VarKind::asn;
      const std::size_t width = atoms.size() + (is_rhost ? 2 : 0) + (is_geo ? 1 : 0);
      // Every candidate is tested against every atom of its variable: the cost grows with their
      // product (thousands of address rules), so it is charged before it is spent.
      charge(candidates.size() * width);
      std::vector<int> signatures;
      signatures.reserve(candidates.size() * width);
      for (const auto& rep : candidates) {
        for (std::size_t i : atoms) {
          signatures.push_back(static_cast<int>(atom_value(policy_.atoms[i], rep)));
        }
        if (is_rhost) {
          signatures.push_back(static_cast<int>(rep.rhost));
          signatures.push_back(rep.rhost == RhostKind::address && rep.address.is_loopback());
        }
        if (is_geo) signatures.push_back(static_cast<int>(rep.geo.kind));
      }
      auto signature = [&](std::size_t c) { return signatures.data() + c * width; };
      std::vector<std::size_t> order(candidates.size());
      for (std::size_t c = 0; c < order.size(); ++c) order[c] = c;
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return std::lexicographical_compare(signature(a), signature(a) + width, signature(b),
                                            signature(b) + width);
      });
      std::vector<bool> keep(candidates.size(), false);
      for (std::size_t k = 0; k < order.size(); ++k) {
        const int* here = signature(order[k]);
        if (k == 0 || !std::equal(here, here + width, signature(order[k - 1])))
          keep[order[k]] = true;
      }
      vars_[v].classes.reserve(
          static_cast<std::size_t>(std::count(keep.begin(), keep.end(), true)));
      for (std::size_t c = 0; c < candidates.size(); ++c) {
        if (keep[c]) vars_[v].classes.push_back(std::move(candidates[c]));
      }
    }
    values_.resize(policy_.atoms.size());
    own_union_.resize(policy_.atoms.size());
    for (std::size_t i = 0; i < policy_.atoms.size(); ++i) {
      charge(vars_[atom_var_[i]].classes.size());
      values_[i].reserve(vars_[atom_var_[i]].classes.size());
      for (const auto& rep : vars_[atom_var_[i]].classes) {
        const Tri t = atom_value(policy_.atoms[i], rep);
        values_[i].push_back(t);
        own_union_[i] |= mask_of(t);
      }
    }
  }

  std::vector<Representative> candidates_for(const Variable& var,
                                             const std::vector<std::size_t>& atoms) const {
    std::vector<Representative> out;
    auto with_name = [&](std::string name) {
      Representative r;
      r.name = std::move(name);
      out.push_back(std::move(r));
    };
    switch (var.kind) {
      case VarKind::rhost:
        return rhost_candidates(atoms);
      case VarKind::country:
      case VarKind::asn: {
        std::set<std::string> codes;
        std::set<std::uint32_t> numbers;
        for (std::size_t i : atoms) {
          codes.insert(policy_.atoms[i].names.begin(), policy_.atoms[i].names.end());
          numbers.insert(policy_.atoms[i].numbers.begin(), policy_.atoms[i].numbers.end());
        }
        for (const auto& code : codes) {
          Representative r;
          r.geo = Lookup{Lookup::Kind::value, code, 0, {}};
          out.push_back(r);
        }
        for (auto n : numbers) {
          Representative r;
          r.geo = Lookup{Lookup::Kind::value, {}, n, {}};
          out.push_back(r);
        }
        Representative other;
        other.geo =
            Lookup{Lookup::Kind::value, "?", numbers.empty() ? 0u : *numbers.rbegin() + 1, {}};
        if (!numbers.empty() && *numbers.rbegin() == 0xffffffffu)
          other.geo.number = *numbers.begin() - 1;
        out.push_back(other);
        Representative none;
        none.geo = Lookup{Lookup::Kind::no_value, {}, 0, {}};
        out.push_back(none);
        Representative unknown;
        unknown.geo = Lookup{Lookup::Kind::unknown, {}, 0, "GeoIP database unavailable"};
        out.push_back(unknown);
        return out;
      }
      case VarKind::user:
      case VarKind::service:
      case VarKind::tty:
      case VarKind::ruser: {
        std::set<std::string> names;
        for (std::size_t i : atoms)
          names.insert(policy_.atoms[i].names.begin(), policy_.atoms[i].names.end());
        for (const auto& n : names) with_name(n);
        std::string other = "other";
        while (names.count(other)) other += "_";
        with_name(other);
        return out;
      }
      case VarKind::group:
      case VarKind::recent:
        for (Tri t : {Tri::yes, Tri::no, Tri::unknown}) {
          Representative r;
          r.tri = t;
          out.push_back(r);
        }
        return out;
      case VarKind::time: {
        std::set<int> edges = {0};
        for (std::size_t i : atoms) {
          for (const auto& range : policy_.atoms[i].clock_ranges) {
            edges.insert(range.start % 1440);
            edges.insert(range.end % 1440);
          }
        }
        for (int m : edges) {
          Representative r;
          r.minute = m;
          out.push_back(r);
        }
        return out;
      }
      case VarKind::weekday:
        for (int d = 0; d < 7; ++d) {
          Representative r;
          r.weekday = d;
          out.push_back(r);
        }
        return out;
      case VarKind::failures: {
        std::set<long> counts = {0};
        for (std::size_t i : atoms) {
          const long c = policy_.atoms[i].count;
          for (long x : {c - 1, c, c + 1}) {
            if (x >= 0) counts.insert(x);
          }
        }
        for (long c : counts) {
          Representative r;
          r.count = c;
          out.push_back(r);
        }
        Representative unknown;
        unknown.count.reset();
        out.push_back(unknown);
        return out;
      }
    }
    return out;
  }

  // Sweeps the v4 and v6 spaces over every set's range boundaries (and loopback) and keeps the
  // first address of each elementary interval: those intervals are the address classes.
  std::vector<Representative> rhost_candidates(const std::vector<std::size_t>& atoms) const {
    std::vector<Representative> out;
    Representative absent;
    absent.rhost = RhostKind::absent;
    out.push_back(absent);
    Representative host;
    host.rhost = RhostKind::hostname;
    out.push_back(host);
    std::set<const AddressSet*> sets;
    for (std::size_t i : atoms) {
      if (policy_.atoms[i].addresses) sets.insert(policy_.atoms[i].addresses.get());
    }
    for (bool v4 : {true, false}) {
      std::vector<u128> points = {0};
      auto add_range = [&](u128 first, u128 last) {
        points.push_back(first);
        const u128 max = v4 ? 0xffffffffu : ~static_cast<u128>(0);
        if (last < max) points.push_back(last + 1);
      };
      if (v4)
        add_range(static_cast<u128>(127) << 24, (static_cast<u128>(128) << 24) - 1);
      else
        add_range(1, 1);
      for (const AddressSet* set : sets) {
        for (const auto& r : set->ranges(v4)) add_range(r.first, r.last);
      }
      std::sort(points.begin(), points.end());
      points.erase(std::unique(points.begin(), points.end()), points.end());
      out.reserve(out.size() + points.size());
      for (u128 p : points) {
        Representative r;
        r.rhost = RhostKind::address;
        r.address = IpAddress{v4, p};
        out.push_back(r);
      }
    }
    return out;
  }
};

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
Predicate permits(const Policy& policy, Mode mode) {
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

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

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
    std::string problem =
        geoip_problem(policy.geoip, s == Subject::country ? GeoField::country : GeoField::asn);
    if (problem.empty()) continue;
    unusable.insert(s);
    problems[s] = std::move(problem);
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

  Explanation run() {
    Explanation result;
    Space::Assignment a = space_.empty_assignment();
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

Explanation explain_policy(const Policy& policy) {
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
  Explanation result = explainer.run();
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
