// The evaluator: three-valued conditions, lazy factor asking, memoised outcomes, the record.
#include "engine/evaluate.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>

#include "engine/ssh_auth.h"

namespace authpolicy {

bool is_remote(const RequestInfo& request) {
  if (!request.rhost || request.rhost->empty()) return false;
  const auto address = IpAddress::parse(*request.rhost);
  return !address || !address->is_loopback();
}

std::vector<std::string> Decision::asked() const {
  std::vector<std::string> names;
  for (const auto& a : attempts) {
    if (a.outcome != Outcome::unavailable) names.push_back(a.name);
  }
  return names;
}

namespace {

constexpr const char* kGivenUnknown = "given as unknown";

Tri given(Tri answer, std::string* cause) {
  if (answer == Tri::unknown && cause) *cause = kGivenUnknown;
  return answer;
}

}  // namespace

Tri StaticSubjects::in_group(const std::string&, const std::string& group, std::string* cause) {
  if (auto it = group_answers.find(group); it != group_answers.end()) {
    return given(it->second, cause);
  }
  if (!groups) return given(Tri::unknown, cause);
  return std::find(groups->begin(), groups->end(), group) != groups->end() ? Tri::yes : Tri::no;
}

LocalTime StaticSubjects::local_time() {
  if (time) return *time;
  return fallback ? fallback->local_time() : LocalTime{};
}

Lookup StaticSubjects::country(const IpAddress& address) {
  if (country_answer) return *country_answer;
  return fallback ? fallback->country(address) : Lookup{};
}

Lookup StaticSubjects::asn(const IpAddress& address) {
  if (asn_answer) return *asn_answer;
  return fallback ? fallback->asn(address) : Lookup{};
}

std::string failures_key(std::chrono::seconds window, bool by_rhost) {
  return std::to_string(window.count()) + "s" + (by_rhost ? "/rhost" : "");
}

std::optional<long> StaticSubjects::failures(const RequestInfo& request,
                                             std::chrono::seconds window, bool by_rhost,
                                             std::string* cause) {
  Count answer = 0;
  if (auto it = failure_answers.find(failures_key(window, by_rhost));
      it != failure_answers.end()) {
    answer = it->second;
  } else if (failure_count) {
    answer = *failure_count;
  } else if (fallback) {
    return fallback->failures(request, window, by_rhost, cause);
  }
  if (!answer && cause) *cause = kGivenUnknown;
  return answer;
}

std::string recent_key(const Atom& atom) {
  std::string key = atom.factor + "/" + std::to_string(atom.window.count()) + "s";
  if (atom.scope == RecentScope::rhost) key += "/rhost";
  if (atom.scope == RecentScope::tty) key += "/tty";
  return key;
}

Tri StaticSubjects::recent(const RequestInfo& request, const Atom& atom, std::string* cause) {
  auto it = recent_answers.find(recent_key(atom));
  if (it == recent_answers.end()) it = recent_answers.find(atom.factor);
  if (it != recent_answers.end()) return given(it->second, cause);
  if (recent_answer) return given(*recent_answer, cause);
  return fallback ? fallback->recent(request, atom, cause) : Tri::no;
}

Tri StaticSubjects::enrolled(const RequestInfo& request, const FactorSpec& factor,
                             std::string* cause) {
  if (auto it = enrolled_answers.find(factor.name); it != enrolled_answers.end()) {
    return given(it->second, cause);
  }
  if (enrolled_answer) return given(*enrolled_answer, cause);
  return fallback ? fallback->enrolled(request, factor, cause) : Tri::yes;
}

Tri enrolment_value(const Enrolment& enrolment, std::string* cause) {
  switch (enrolment.state) {
    case Enrolment::State::enrolled: return Tri::yes;
    case Enrolment::State::none: return Tri::no;
    case Enrolment::State::unknown: break;
  }
  if (cause) *cause = enrolment.detail.empty() ? "enrolment cannot be told" : enrolment.detail;
  return Tri::unknown;
}

// Through the C library's UTC calendar: a day is 86400 s there, with no zone or leap second.
long days_from_civil(int year, int month, int day) {
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = 12;
  const std::time_t at = timegm(&parts);
  return static_cast<long>(at / 86400);
}

void civil_from_days(long days, int& year, int& month, int& day) {
  const std::time_t at = static_cast<std::time_t>(days) * 86400 + 12 * 3600;
  std::tm parts{};
  gmtime_r(&at, &parts);
  year = parts.tm_year + 1900;
  month = parts.tm_mon + 1;
  day = parts.tm_mday;
}

std::string date_text(long days) {
  int year = 0, month = 0, day = 0;
  civil_from_days(days, year, month, day);
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d", year, month, day);
  return text;
}

namespace {

enum class Result { pass, fail, unavailable, unset };

Tri negate(Tri t) {
  if (t == Tri::yes) return Tri::no;
  if (t == Tri::no) return Tri::yes;
  return Tri::unknown;
}

class Evaluator {
 public:
  Evaluator(const Policy& policy, const RequestInfo& request, SubjectSource& subjects,
            FactorSource* factors, Conversation* conversation, Decision& decision)
      : policy_(policy),
        request_(request),
        subjects_(subjects),
        factors_(factors),
        conversation_(conversation),
        decision_(decision),
        remote_(is_remote(request)) {
    if (request.rhost && !request.rhost->empty()) address_ = IpAddress::parse(*request.rhost);
  }

  // True when a deny rule holds (true or unknown); records it in the decision.
  bool denied() {
    for (const auto& rule : policy_.denies) {
      const Tri t = condition(*rule.condition);
      if (t == Tri::no) continue;
      decision_.deny_rule = "deny if " + rule.text;
      decision_.reason = "denied by 'deny if " + rule.text + "'" +
                         (t == Tri::unknown ? " (its condition is unknown, so it holds)" : "");
      return true;
    }
    return false;
  }

  Result run_auth() { return expression(*policy_.auth); }

  Tri condition(const Condition& c) {
    switch (c.kind) {
      case Condition::Kind::atom: return atom(c.atom);
      case Condition::Kind::negation: return negate(condition(*c.operands.at(0)));
      case Condition::Kind::conjunction: {
        Tri result = Tri::yes;
        for (const auto* operand : c.operands) {
          const Tri t = condition(*operand);
          if (t == Tri::no) return Tri::no;
          if (t == Tri::unknown) result = Tri::unknown;
        }
        return result;
      }
      case Condition::Kind::disjunction: {
        Tri result = Tri::no;
        for (const auto* operand : c.operands) {
          const Tri t = condition(*operand);
          if (t == Tri::yes) return Tri::yes;
          if (t == Tri::unknown) result = Tri::unknown;
        }
        return result;
      }
    }
    return Tri::unknown;
  }

 private:
  const Policy& policy_;
  const RequestInfo& request_;
  SubjectSource& subjects_;
  FactorSource* factors_;
  Conversation* conversation_;
  Decision& decision_;
  bool remote_;
  std::optional<IpAddress> address_;
  std::map<std::size_t, Tri> atom_cache_;
  std::map<std::size_t, Outcome> factor_cache_;
  // An expression's result cannot change within one decision (atoms and factor outcomes are
  // remembered), so a node shared through lets is evaluated once: the walk stays linear in the
  // policy's size even where its unfolding is exponential.
  std::vector<Result> expression_cache_;  // by Expr::id; Result::unset until evaluated

  Tri unknown_because(const Atom& a, std::string cause) {
    for (const auto& u : decision_.unknowns) {
      if (u.condition == a.text) return Tri::unknown;
    }
    decision_.unknowns.push_back({a.text, std::move(cause)});
    return Tri::unknown;
  }

  static Tri from_bool(bool b) { return b ? Tri::yes : Tri::no; }

  bool has_rhost() const { return request_.rhost && !request_.rhost->empty(); }

  std::string not_an_address() const {
    return "rhost '" + request_.rhost->substr(0, 64) +
           "' is not an IP address (host names are never resolved)";
  }

  Tri atom(std::size_t index) {
    if (auto it = atom_cache_.find(index); it != atom_cache_.end()) return it->second;
    const Tri t = evaluate_atom(policy_.atoms.at(index));
    atom_cache_[index] = t;
    return t;
  }

  Tri geo(const Atom& a) {
    if (!has_rhost()) return Tri::no;  // a local request has no address, hence no country
    if (!address_) return unknown_because(a, not_an_address());
    const Lookup l = a.subject == Subject::country ? subjects_.country(*address_)
                                                   : subjects_.asn(*address_);
    if (l.kind == Lookup::Kind::unknown) return unknown_because(a, l.cause);
    if (l.kind == Lookup::Kind::no_value) return Tri::no;
    if (a.subject == Subject::country) {
      decision_.country = l.text;
      return from_bool(a.names.count(l.text) > 0);
    }
    decision_.asn = l.number;
    return from_bool(a.numbers.count(l.number) > 0);
  }

  // Unknown unless sshd said which methods completed: outside sshd (and before OpenSSH 7.8) the
  // variable is absent, and a value sshd would not write is not trusted either.
  Tri ssh_auth(const Atom& a) {
    if (!request_.ssh_auth_info) {
      return unknown_because(a, "SSH_AUTH_INFO_0 is not set (not a login through sshd)");
    }
    std::string problem;
    const auto methods = parse_ssh_auth_info(*request_.ssh_auth_info, &problem);
    if (!methods) return unknown_because(a, problem);
    return from_bool((*methods & a.ssh_methods) != 0);
  }

  Tri evaluate_atom(const Atom& a) {
    switch (a.subject) {
      case Subject::rhost:
        if (!has_rhost()) return Tri::no;
        if (!address_) return unknown_because(a, not_an_address());
        return from_bool(a.addresses->contains(*address_));
      case Subject::rhost_local:
        if (!has_rhost()) return Tri::yes;
        if (!address_) return unknown_because(a, not_an_address());
        return from_bool(address_->is_loopback());
      case Subject::country:
      case Subject::asn: return geo(a);
      case Subject::user: return from_bool(a.names.count(request_.user) > 0);
      case Subject::service: return from_bool(a.names.count(request_.service) > 0);
      case Subject::tty: return from_bool(a.names.count(request_.tty) > 0);
      case Subject::ruser: return from_bool(a.names.count(request_.ruser) > 0);
      case Subject::group: {
        std::string cause;
        const Tri t = subjects_.in_group(request_.user, a.group, &cause);
        if (t == Tri::unknown) return unknown_because(a, cause);
        return t;
      }
      case Subject::time: {
        const int minute = subjects_.local_time().minute_of_day;
        return from_bool(std::any_of(a.clock_ranges.begin(), a.clock_ranges.end(),
                                     [minute](const ClockRange& r) { return r.contains(minute); }));
      }
      case Subject::weekday:
        return from_bool((a.weekdays >> subjects_.local_time().weekday) & 1u);
      case Subject::failures: {
        std::string cause;
        const auto n = subjects_.failures(request_, a.window, a.by_rhost, &cause);
        if (!n) return unknown_because(a, cause);
        return from_bool(compare(*n, a.comparison, a.count));
      }
      case Subject::recent: {
        std::string cause;
        const Tri t = subjects_.recent(request_, a, &cause);
        if (t == Tri::unknown) return unknown_because(a, cause);
        return t;
      }
      case Subject::ssh_auth:
        return ssh_auth(a);
      case Subject::enrolled: {
        std::string cause;
        const Tri t = subjects_.enrolled(request_, policy_.factors.at(a.factor_index), &cause);
        if (t == Tri::unknown) return unknown_because(a, cause);
        return t;
      }
      case Subject::date:
        return from_bool(compare(subjects_.local_time().day, a.comparison, a.day));
    }
    return Tri::unknown;
  }

  Result expression(const Expr& e) {
    if (expression_cache_.empty()) expression_cache_.assign(policy_.expressions.size(), Result::unset);
    if (expression_cache_.at(e.id) != Result::unset) return expression_cache_[e.id];
    const Result r = compute_expression(e);
    expression_cache_[e.id] = r;
    return r;
  }

  Result compute_expression(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::factor: return factor(e.factor);
      case Expr::Kind::permit: return Result::pass;
      case Expr::Kind::any_of: {
        bool all_unavailable = true;
        for (const auto* operand : e.operands) {
          const Result r = expression(*operand);
          if (r == Result::pass) return Result::pass;
          all_unavailable = all_unavailable && r == Result::unavailable;
        }
        return all_unavailable ? Result::unavailable : Result::fail;
      }
      case Expr::Kind::all_of:
        for (const auto* operand : e.operands) {
          if (expression(*operand) != Result::pass) return Result::fail;
        }
        return Result::pass;
      case Expr::Kind::k_of: {
        std::size_t passed = 0;
        bool all_unavailable = true;
        for (std::size_t i = 0; i < e.operands.size(); ++i) {
          const Result r = expression(*e.operands[i]);
          all_unavailable = all_unavailable && r == Result::unavailable;
          if (r == Result::pass && ++passed == e.k) return Result::pass;
          const std::size_t remaining = e.operands.size() - i - 1;
          if (passed + remaining < e.k) break;  // k can no longer be reached: stop asking
        }
        return all_unavailable ? Result::unavailable : Result::fail;
      }
      case Expr::Kind::guarded:
        // The outermost guard is decided first; a waived operand is satisfied, nothing asked.
        for (auto g = e.guards.rbegin(); g != e.guards.rend(); ++g) {
          const Tri t = condition(*g->condition);
          const bool waived = g->unless ? t == Tri::yes : t == Tri::no;
          if (waived) {
            decision_.waived.push_back((g->unless ? "unless " : "if ") + g->text);
            return Result::pass;
          }
        }
        return expression(*e.operands.at(0));
    }
    return Result::fail;
  }

  Result factor(std::size_t index) {
    if (auto it = factor_cache_.find(index); it != factor_cache_.end()) return as_result(it->second);
    const FactorSpec& spec = policy_.factors.at(index);
    const auto started = std::chrono::steady_clock::now();
    FactorResult result = attempt(spec);
    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    if (spec.kit->traits.password && result.outcome != Outcome::unavailable) {
      decision_.password_asked = true;
    }
    decision_.attempts.push_back({spec.name, result.outcome, result.detail, elapsed});
    factor_cache_[index] = result.outcome;
    return as_result(result.outcome);
  }

  FactorResult attempt(const FactorSpec& spec) {
    if (spec.presence && !spec.remote_allowed && remote_) {
      return {Outcome::unavailable, "remote request"};
    }
    if (!factors_ || !conversation_) return {Outcome::error, "no factor providers"};
    std::string problem;
    FactorProvider* provider = factors_->provider(spec, &problem);
    if (!provider) return {Outcome::error, problem.empty() ? "no provider" : problem};
    FactorRequest request{request_.user, request_.service, request_.rhost, request_.tty, remote_};
    try {
      if (auto early = provider->probe(request)) {
        if (early->outcome == Outcome::pass) return {Outcome::error, "probe cannot pass a factor"};
        return *early;
      }
      return provider->authenticate(request, *conversation_);
    } catch (const std::exception& e) {
      return {Outcome::error, std::string("provider failed: ") + e.what()};
    } catch (...) {
      return {Outcome::error, "provider failed"};
    }
  }

  static Result as_result(Outcome o) {
    switch (o) {
      case Outcome::pass: return Result::pass;
      case Outcome::unavailable: return Result::unavailable;
      case Outcome::fail:
      case Outcome::error: return Result::fail;
    }
    return Result::fail;
  }
};

// Names of the attempts whose outcome is (or, with `negate`, is not) `outcome`, with details when
// `detailed`: "password" or "pin fail (wrong pin), u2f unavailable (remote request)".
std::string join_attempts(const Decision& d, Outcome outcome, bool negate, bool detailed) {
  std::string out;
  for (const auto& a : d.attempts) {
    if ((a.outcome == outcome) == negate) continue;
    if (!out.empty()) out += ", ";
    out += a.name;
    if (!detailed) continue;
    out += " " + std::string(to_string(a.outcome));
    if (!a.detail.empty()) out += " (" + a.detail + ")";
  }
  return out;
}

}  // namespace

Decision decide(const Policy& policy, const RequestInfo& request, SubjectSource& subjects,
                FactorSource& factors, Conversation& conversation) {
  Decision decision;
  Evaluator evaluator(policy, request, subjects, &factors, &conversation, decision);
  if (evaluator.denied()) return decision;
  const Result r = evaluator.run_auth();
  decision.permit = r == Result::pass;
  if (decision.permit) {
    const std::string passed = join_attempts(decision, Outcome::pass, false, false);
    decision.reason = passed.empty() ? "auth passed without asking any factor"
                                     : "auth passed: " + passed;
    const std::string others = join_attempts(decision, Outcome::pass, true, true);
    if (!others.empty()) decision.reason += " (also tried: " + others + ")";
    if (!decision.waived.empty()) {
      std::string waived;
      for (const auto& w : decision.waived) waived += (waived.empty() ? "" : ", ") + w;
      decision.reason += " (waived: " + waived + ")";
    }
    return decision;
  }
  if (decision.asked().empty()) {
    decision.reason = decision.attempts.empty()
                          ? "auth failed without asking any factor"
                          : "no factor could be asked: " +
                                join_attempts(decision, Outcome::pass, true, true);
    return decision;
  }
  decision.reason = "auth failed: " + join_attempts(decision, Outcome::pass, true, true);
  if (const std::string passed = join_attempts(decision, Outcome::pass, false, false);
      !passed.empty()) {
    decision.reason += " (passed: " + passed + ")";
  }
  return decision;
}

Decision check_denies(const Policy& policy, const RequestInfo& request, SubjectSource& subjects) {
  Decision decision;
  Evaluator evaluator(policy, request, subjects, nullptr, nullptr, decision);
  if (evaluator.denied()) return decision;
  decision.permit = true;
  decision.reason = "no deny rule holds";
  return decision;
}

}  // namespace authpolicy
