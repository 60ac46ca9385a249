// A checked, compiled policy: names resolved, sets typed, lets shared, ready to evaluate.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/address.h"
#include "engine/factor.h"
#include "engine/factor_kit.h"
#include "grammar/ast.h"

namespace authpolicy {

using ast::Location;

// ---- Diagnostics ---------------------------------------------------------------------------

enum class Severity { error, warning };

struct Diagnostic {
  Severity severity = Severity::error;
  std::string code;  // "E003", "W101"
  std::string message;
  Location location;
  std::vector<std::string> notes;
};

// One file of the policy, kept for diagnostics (source lines under the caret) and the audit.
struct SourceFile {
  std::string path;
  std::string text;
  // SHA-256 of `text` as `sha256sum` prints it: the audit log names the policy version by it.
  // Computed once when the file is read, so a cached policy is never hashed again.
  std::string sha256;
};

// ---- Conditions ----------------------------------------------------------------------------

struct ClockRange {
  int start = 0;  // minutes since midnight, inclusive
  int end = 0;    // exclusive; a range with end <= start crosses midnight
  bool contains(int minute) const {
    return start < end ? (minute >= start && minute < end) : (minute >= start || minute < end);
  }
};

enum class Subject {
  rhost,        // rhost in SET
  rhost_local,  // rhost is local
  country,      // rhost.country in SET
  asn,          // rhost.asn in SET
  user,         // user in SET
  group,        // user in group("name")
  service,
  tty,
  ruser,
  time,
  weekday,
  failures,  // failures(WINDOW[, rhost]) OP N
  recent,    // recent(FACTOR, WINDOW[, rhost | tty])
  ssh_auth,  // ssh.auth in SET: methods sshd completed before PAM (engine/ssh_auth.h)
  enrolled,  // enrolled(FACTOR): the user has an enrolment for it (its kit's EnrolmentStore)
  date,      // date OP YYYY-MM-DD: the local calendar date
};

// What a recent() pass must share with this request besides the user and service.
enum class RecentScope { any, rhost, tty };

enum class Comparison { ge, gt, le, lt, eq, ne };

// `value OP count` for failures() atoms.
inline bool compare(long value, Comparison op, long count) {
  switch (op) {
    case Comparison::ge: return value >= count;
    case Comparison::gt: return value > count;
    case Comparison::le: return value <= count;
    case Comparison::lt: return value < count;
    case Comparison::eq: return value == count;
    case Comparison::ne: return value != count;
  }
  return false;
}

// One test on one subject; the leaves of every condition.
struct Atom {
  Subject subject = Subject::user;
  std::string text;  // as it reads in the policy: "rhost in trusted"
  Location location;
  std::shared_ptr<const AddressSet> addresses;  // rhost
  std::set<std::string, std::less<>> names;     // user, service, tty, ruser, country (upper case)
  std::set<std::uint32_t> numbers;              // asn
  unsigned weekdays = 0;                        // bit d set for weekday d, 0 = Monday
  std::vector<ClockRange> clock_ranges;         // time
  std::string group;                            // group
  std::chrono::seconds window{0};               // failures
  bool by_rhost = false;                        // failures(WINDOW, rhost)
  Comparison comparison = Comparison::ge;       // failures, date
  long count = 0;                               // failures
  std::string factor;                           // recent: the factor's name
  RecentScope scope = RecentScope::any;         // recent
  unsigned ssh_methods = 0;                     // ssh.auth: mask of kSshMethods
  std::size_t factor_index = 0;                 // enrolled: index into Policy::factors
  long day = 0;                                 // date: days since 1970-01-01 (`comparison`)
};

struct Condition {
  enum class Kind { atom, negation, conjunction, disjunction };
  std::size_t id = 0;  // its index in Policy::conditions: walks memoise per node by it
  Kind kind = Kind::atom;
  std::size_t atom = 0;  // index into Policy::atoms
  std::vector<const Condition*> operands;
};

// ---- Expressions ---------------------------------------------------------------------------

struct FactorSpec {
  std::string name;
  // Its kind's description (factors/<kind>/kit.cpp): settings, traits, delivery. Never null in
  // a compiled policy: a pam() factor is of delegated_factor_kit().
  const FactorKit* kit = nullptr;
  std::string module;  // delegated factors (password and fingerprint too)
  std::vector<std::string> arguments;
  Settings settings;
  bool presence = false;        // needs a person at the machine (the kit's trait, or pam()'s
                                // `presence = true`)
  bool remote_allowed = false;  // `remote = true`
  bool lockout = false;         // locks itself after failures (the kit's trait)
  bool used = false;
  Location location;  // its definition, or its first use for an undeclared built-in
  bool declared = false;
};

struct Guard {
  bool unless = true;
  const Condition* condition = nullptr;
  std::string text;  // the condition as written
  Location location;
};

struct Expr {
  enum class Kind { factor, permit, any_of, all_of, k_of, guarded };
  std::size_t id = 0;  // its index in Policy::expressions: walks memoise per node by it (lets
                       // share nodes, so a policy is a DAG whose unfolding can be exponential)
  Kind kind = Kind::factor;
  std::size_t factor = 0;  // index into Policy::factors
  std::vector<const Expr*> operands;
  std::size_t k = 0;
  std::vector<Guard> guards;  // guarded: applied innermost first
  Location location;
};

struct DenyRule {
  const Condition* condition = nullptr;
  std::string text;
  Location location;
};

// ---- The policy ----------------------------------------------------------------------------

struct Policy {
  std::vector<SourceFile> files;  // [0] is the policy itself, then its includes
  std::vector<FactorSpec> factors;
  std::deque<Atom> atoms;
  std::vector<std::unique_ptr<Condition>> conditions;  // owns every condition node
  std::vector<std::unique_ptr<Expr>> expressions;      // owns every expression node (lets shared)
  std::vector<DenyRule> denies;
  const Expr* auth = nullptr;
  Location auth_location;
  Settings audit;
  Settings geoip;
  Settings tpm;

  std::optional<std::size_t> factor_index(std::string_view name) const;
  bool uses_subject(Subject subject) const;
};

}  // namespace authpolicy
