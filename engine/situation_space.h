// The situation space of a policy: every subject's values cut into the classes no atom can tell
// apart, and the work budget every analysis is charged to. Internal to the analysis
// (situation_search.h, policy_checks.cpp, explain.cpp, policy_diff.cpp).
//
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
#pragma once

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "engine/analysis.h"
#include "engine/describe.h"
#include "engine/evaluate.h"
#include "engine/geoip_lookup.h"
#include "engine/scripted.h"
#include "engine/ssh_auth.h"

namespace authpolicy::analysis {

// ---- Masks -----------------------------------------------------------------------------------

using TriMask = unsigned;  // bit per possible condition value
inline constexpr TriMask kYes = 1, kNo = 2, kUnknown = 4, kAnyTri = 7;

inline TriMask mask_of(Tri t) {
  return t == Tri::yes ? kYes : t == Tri::no ? kNo : kUnknown;
}

using ResultMask = unsigned;  // bit per possible expression result
inline constexpr ResultMask kPass = 1, kNonPass = 2;

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
  unsigned methods = 0;  // ssh.auth (tri unknown: SSH_AUTH_INFO_0 absent)
  long day = 0;  // date: days since 1970-01-01
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
  recent,
  ssh_auth,
  enrolled,  // one per factor named in enrolled(): yes, no, unknown
  date,      // the calendar day, cut at every date condition's day
};

struct Variable {
  VarKind kind = VarKind::user;
  std::string group;
  long window = 0;
  bool by_rhost = false;
  std::vector<Representative> classes;
};

inline VarKind var_kind(Subject s) {
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
    case Subject::ssh_auth:
      return VarKind::ssh_auth;
    case Subject::enrolled:
      return VarKind::enrolled;
    case Subject::date:
      return VarKind::date;
  }
  return VarKind::user;
}

inline Tri from_bool(bool b) {
  return b ? Tri::yes : Tri::no;
}

// The atom's value when its own subject is `own` (and, for GeoIP atoms, the address is known).
inline Tri atom_value(const Atom& a, const Representative& own) {
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
    case Subject::enrolled:
      return own.tri;
    case Subject::ssh_auth:
      if (own.tri == Tri::unknown) return Tri::unknown;
      return from_bool((own.methods & a.ssh_methods) != 0);
    case Subject::date:
      return from_bool(compare(own.day, a.comparison, a.day));
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
inline constexpr std::size_t kSearchBudget = 200000;
inline constexpr std::size_t kWorkBudget = 20000000;

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

  // An assignment that fixes ssh.auth to "known, nothing completed" (SSH_AUTH_INFO_0 empty, as
  // sshd sets it when keyboard-interactive is the first method), when the policy tests ssh.auth.
  void pin_ssh_nothing_completed(Assignment& a) const {
    for (std::size_t v = 0; v < vars_.size(); ++v) {
      if (vars_[v].kind != VarKind::ssh_auth) continue;
      for (std::size_t c = 0; c < vars_[v].classes.size(); ++c) {
        const Representative& rep = vars_[v].classes[c];
        if (rep.tri != Tri::unknown && rep.methods == 0) a[v] = static_cast<int>(c);
      }
    }
  }

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
    LocalTime& time = subjects.time ? *subjects.time : subjects.time.emplace();
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
          time.minute_of_day = rep.minute;
          break;
        case VarKind::weekday:
          time.weekday = rep.weekday;
          break;
        case VarKind::failures:
          subjects.failure_answers[failures_key(std::chrono::seconds(vars_[v].window),
                                               vars_[v].by_rhost)] = rep.count;
          break;
        case VarKind::recent:
          subjects.recent_answers[vars_[v].group] = rep.tri;
          break;
        case VarKind::ssh_auth:
          if (rep.tri == Tri::unknown)
            request.ssh_auth_info.reset();
          else
            request.ssh_auth_info = ssh_auth_info_for(rep.methods);
          break;
        case VarKind::enrolled:
          subjects.enrolled_answers[vars_[v].group] = rep.tri;
          break;
        case VarKind::date:
          time.day = rep.day;
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
    if (atom.subject == Subject::recent || atom.subject == Subject::enrolled) {
      return "not " + atom.text;
    }
    if (atom.subject == Subject::failures || atom.subject == Subject::date) {
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
      // One variable per factor named by enrolled().
      if (kind == VarKind::enrolled && v.group != atom.factor) continue;
      if (kind == VarKind::failures &&
          (v.window != atom.window.count() || v.by_rhost != atom.by_rhost)) {
        continue;
      }
      return i;
    }
    Variable v;
    v.kind = kind;
    v.group = kind == VarKind::recent     ? recent_key(atom)
              : kind == VarKind::enrolled ? atom.factor
                                          : atom.group;
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
      case VarKind::enrolled:
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
      case VarKind::date: {
        std::set<long> days;
        for (std::size_t i : atoms) {
          for (long d : {policy_.atoms[i].day - 1, policy_.atoms[i].day,
                         policy_.atoms[i].day + 1}) {
            days.insert(d);
          }
        }
        for (long d : days) {
          Representative r;
          r.day = d;
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
      case VarKind::ssh_auth: {
        // Atoms ask whether any of their methods completed, so every subset of the methods they
        // name is a candidate (kSshMethods keeps that at most 2^7); other methods change nothing.
        unsigned named = 0;
        for (std::size_t i : atoms) named |= policy_.atoms[i].ssh_methods;
        for (unsigned subset = named;; subset = (subset - 1) & named) {
          Representative r;
          r.methods = subset;
          out.push_back(r);
          if (subset == 0) break;
        }
        std::reverse(out.begin(), out.end());  // the empty set first: nothing completed
        Representative absent;
        absent.tri = Tri::unknown;
        out.push_back(absent);
        return out;
      }
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

}  // namespace authpolicy::analysis
