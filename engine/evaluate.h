// Evaluating a policy for one request: deny rules first, then auth, lazily, left to right.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/policy.h"

namespace authpolicy {

// Three-valued truth (docs/language.md, "Conditions").
enum class Tri { no, yes, unknown };

// A GeoIP answer: a value, a known absence of one (membership is false), or unknown.
struct Lookup {
  enum class Kind { value, no_value, unknown };
  Kind kind = Kind::no_value;
  std::string text;          // country code (upper case)
  std::uint32_t number = 0;  // AS number
  std::string cause;         // why unknown
};

struct LocalTime {
  int minute_of_day = 0;  // 0..1439
  int weekday = 0;        // 0 = Monday
  long day = 0;           // the local calendar date as days since 1970-01-01 (date conditions)
};

// What the request is: PAM items, or the CLI's --user/--rhost/... flags.
struct RequestInfo {
  std::string user;
  std::string service;
  std::string tty;
  std::string ruser;
  std::optional<std::string> rhost;
  // SSH_AUTH_INFO_0 from the PAM environment (sshd's methods that completed before PAM ran);
  // nullopt when it is not there, as outside sshd: ssh.auth is then unknown.
  std::optional<std::string> ssh_auth_info = std::nullopt;
};

// True when the request comes from elsewhere: rhost set and not loopback. A host name counts as
// remote: it is never resolved.
bool is_remote(const RequestInfo& request);

// The answers that need the system: groups, clock, GeoIP, the audit log. Any of them may be
// unknown; the evaluator resolves unknown the strict way.
class SubjectSource {
 public:
  virtual ~SubjectSource() = default;
  virtual Tri in_group(const std::string& user, const std::string& group, std::string* cause) = 0;
  virtual LocalTime local_time() = 0;
  virtual Lookup country(const IpAddress& address) = 0;
  virtual Lookup asn(const IpAddress& address) = 0;
  // nullopt (with cause) when the audit log cannot be read.
  virtual std::optional<long> failures(const RequestInfo& request, std::chrono::seconds window,
                                       bool by_rhost, std::string* cause) = 0;
  // recent(FACTOR, WINDOW[, rhost | tty]): whether FACTOR passed in a permitted decision for this
  // user and service within WINDOW (from the same rhost or tty); unknown when the log cannot
  // be read.
  virtual Tri recent(const RequestInfo& request, const Atom& atom, std::string* cause) = 0;
  // enrolled(FACTOR): whether the user has an enrolment for `factor`, as its kit's enrolment
  // store tells (engine/factor_kit.h). Unknown, with cause, where it cannot be told. Pure: a
  // wrapper that forgot to forward it would make every enrolment unknown.
  virtual Tri enrolled(const RequestInfo& request, const FactorSpec& factor,
                       std::string* cause) = 0;
};

// The key StaticSubjects (and `authpolicy eval --recent`) answer recent() atoms by:
// "totp/8h", "totp/8h/rhost", "totp/8h/tty" with the window in seconds ("totp/28800s/rhost").
std::string recent_key(const Atom& atom);

// The key failures(WINDOW[, rhost]) answers are given (`authpolicy eval --failures
// 900s/rhost=N`) and recorded under: "900s" or "900s/rhost".
std::string failures_key(std::chrono::seconds window, bool by_rhost);

// Given answers in front of a fallback: what `authpolicy eval`, `test` and `replay` are told,
// the checker's concrete witnesses, tests. A subject the answers leave open is asked of
// `fallback` (eval: the running system); without a fallback it has the fixed default noted
// beside it. An answer given as unknown has the cause "given as unknown".
class StaticSubjects : public SubjectSource {
 public:
  using Count = std::optional<long>;  // a failure count; nullopt: given as unknown

  SubjectSource* fallback = nullptr;  // not owned; null: the fixed defaults
  // The user's groups; never open. nullopt: unknown.
  std::optional<std::vector<std::string>> groups = std::vector<std::string>{};
  std::map<std::string, Tri, std::less<>> group_answers;  // per group, over `groups`
  std::optional<LocalTime> time;                          // open: LocalTime{}
  std::optional<Lookup> country_answer;                   // open: no record
  std::optional<Lookup> asn_answer;                       // open: no record
  std::map<std::string, Count, std::less<>> failure_answers;  // per failures_key()
  std::optional<Count> failure_count;                         // the other windows; open: 0
  std::map<std::string, Tri, std::less<>> recent_answers;  // per recent_key(), or factor name
  std::optional<Tri> recent_answer;                        // the other atoms; open: no
  std::map<std::string, Tri, std::less<>> enrolled_answers;  // per factor name
  std::optional<Tri> enrolled_answer;                        // the other factors; open: yes

  Tri in_group(const std::string& user, const std::string& group, std::string* cause) override;
  LocalTime local_time() override;
  Lookup country(const IpAddress& address) override;
  Lookup asn(const IpAddress& address) override;
  std::optional<long> failures(const RequestInfo& request, std::chrono::seconds window,
                               bool by_rhost, std::string* cause) override;
  Tri recent(const RequestInfo& request, const Atom& atom, std::string* cause) override;
  Tri enrolled(const RequestInfo& request, const FactorSpec& factor, std::string* cause) override;
};

// The answer of a kind's enrolment store as a condition value: enrolled yes, none no, else
// unknown with the store's reason as cause.
Tri enrolment_value(const Enrolment& enrolment, std::string* cause);

// Days since 1970-01-01 of a proleptic Gregorian date, and back (date conditions).
long days_from_civil(int year, int month, int day);
void civil_from_days(long days, int& year, int& month, int& day);
// "2027-01-15"
std::string date_text(long days);

// Gives the evaluator the provider for each factor the policy asks.
class FactorSource {
 public:
  virtual ~FactorSource() = default;
  // nullptr with `error` set when the factor cannot be provided (module missing...).
  virtual FactorProvider* provider(const FactorSpec& spec, std::string* error) = 0;
};

struct FactorAttempt {
  std::string name;
  Outcome outcome = Outcome::error;
  std::string detail;
  std::chrono::microseconds duration{0};
};

struct UnknownCondition {
  std::string condition;  // as written: "rhost.country in { \"KP\" }"
  std::string cause;
};

struct Decision {
  bool permit = false;
  std::string reason;
  std::vector<FactorAttempt> attempts;  // every factor consulted, in order, unavailable included
  std::vector<UnknownCondition> unknowns;
  std::vector<std::string> waived;  // guards that waived an operand: "unless rhost in trusted"
  std::optional<std::string> deny_rule;  // the `deny if` that decided, when one did
  bool password_asked = false;
  std::optional<std::string> country;  // when a country condition looked one up and found it
  std::optional<std::uint32_t> asn;    // likewise for the AS number

  // Names of the factors that asked the person something (unavailable ones did not).
  std::vector<std::string> asked() const;
};

// Evaluates the deny rules, then auth. Never throws for provider failures: they are `error`.
Decision decide(const Policy& policy, const RequestInfo& request, SubjectSource& subjects,
                FactorSource& factors, Conversation& conversation);

// Only the deny rules, asking nothing (for acct_mgmt): the decision says which one held.
Decision check_denies(const Policy& policy, const RequestInfo& request, SubjectSource& subjects);

}  // namespace authpolicy
