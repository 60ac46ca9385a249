// Who is not ready for a policy: simulated logins per user, with the machine's enrolments.
#include "cli/readiness.h"

#include <pwd.h>

#include <algorithm>
#include <map>
#include <set>

#include "cli/situation.h"
#include "engine/evaluate.h"
#include "engine/scripted.h"
#include "engine/situation_space.h"
#include "engine/system_subjects.h"

namespace authpolicy::cli {
namespace {

// One situation of the policy's space (engine/situation_space.h) on one day: where the request
// comes from, the time, its GeoIP answers, failure counts, remembered passes and ssh.auth are the
// situation's; the user's groups are the machine's, and enrolments are the stores' (or, for the
// comparison, all there).
// One user's group answers, looked up once: every circumstance and day asks the same ones.
using GroupMemo = std::map<std::string, std::pair<Tri, std::string>>;

class DaySubjects : public SystemSubjects {
 public:
  DaySubjects(const Policy& policy, long day, StaticSubjects& situation,
              const std::map<std::string, Tri>* enrolled, GroupMemo& groups)
      : SystemSubjects(policy.geoip, nullptr),
        day_(day),
        situation_(situation),
        enrolled_(enrolled),
        groups_(groups) {}

  Tri in_group(const std::string& user, const std::string& group, std::string* cause) override {
    auto it = groups_.find(group);
    if (it == groups_.end()) {
      std::string why;
      const Tri answer = SystemSubjects::in_group(user, group, &why);
      it = groups_.emplace(group, std::make_pair(answer, std::move(why))).first;
    }
    if (cause && !it->second.second.empty()) *cause = it->second.second;
    return it->second.first;
  }

  LocalTime local_time() override {
    LocalTime time = situation_.local_time();
    time.day = day_;
    return time;
  }
  Lookup country(const IpAddress& address) override { return situation_.country(address); }
  Lookup asn(const IpAddress& address) override { return situation_.asn(address); }
  std::optional<long> failures(const RequestInfo& request, std::chrono::seconds window,
                               bool by_rhost, std::string* cause) override {
    return situation_.failures(request, window, by_rhost, cause);
  }
  Tri recent(const RequestInfo& request, const Atom& atom, std::string* cause) override {
    return situation_.recent(request, atom, cause);
  }
  Tri enrolled(const RequestInfo&, const FactorSpec& factor, std::string* cause) override {
    if (!enrolled_) return Tri::yes;  // as if enrolled in everything
    const auto it = enrolled_->find(factor.name);
    if (it == enrolled_->end()) return Tri::yes;
    if (it->second == Tri::unknown && cause) *cause = "enrolment cannot be told";
    return it->second;
  }

 private:
  long day_;
  StaticSubjects& situation_;
  const std::map<std::string, Tri>* enrolled_;
  GroupMemo& groups_;
};

// A request's circumstances, as a request and the answers of the subjects that are not the
// user's own (user, service, groups, enrolments and the day are filled in per user and day).
struct Circumstance {
  RequestInfo request;
  StaticSubjects subjects;
};

using analysis::Budget;
using analysis::Space;
using analysis::Variable;
using analysis::VarKind;

bool is_circumstance(VarKind kind) {
  switch (kind) {
    case VarKind::user:
    case VarKind::service:
    case VarKind::group:
    case VarKind::enrolled:
    case VarKind::date:
      return false;
    default:
      return true;
  }
}

// Every combination of the classes the policy's conditions tell apart in the request's
// circumstances (addresses cut at every set boundary, times at every window's edge, failure
// counts at every threshold...), when there are at most kMostCircumstances; else each class of
// each subject once, the others at their first class. Without conditions on them: a local
// request at noon, with no failures and no remembered passes; and one from an address in no set.
constexpr std::size_t kMostCircumstances = 4096;

std::vector<Circumstance> circumstances(const Policy& policy) {
  std::vector<Circumstance> out;
  auto with_defaults = [](Circumstance c) {
    c.subjects.time = LocalTime{12 * 60, 0, 0};
    return c;
  };
  try {
    const Space space(policy);
    std::vector<std::size_t> varying;
    std::size_t product = 1;
    for (std::size_t v = 0; v < space.variable_count(); ++v) {
      const Variable& variable = space.variable(v);
      if (!is_circumstance(variable.kind) || variable.classes.size() < 2) continue;
      varying.push_back(v);
      product = std::min(product * variable.classes.size(), kMostCircumstances + 1);
    }
    const bool has_time = std::any_of(policy.atoms.begin(), policy.atoms.end(),
                                      [](const Atom& a) { return a.subject == Subject::time; });
    auto add = [&](const Space::Assignment& assignment) {
      Circumstance c;
      space.concretise(assignment, c.request, c.subjects);
      if (!has_time) c.subjects.time->minute_of_day = 12 * 60;
      out.push_back(std::move(c));
    };
    Space::Assignment assignment = space.empty_assignment();
    for (std::size_t v : varying) assignment[v] = 0;
    if (product <= kMostCircumstances) {
      // An odometer over the varying subjects' classes.
      while (true) {
        add(assignment);
        std::size_t i = 0;
        for (; i < varying.size(); ++i) {
          const std::size_t v = varying[i];
          if (++assignment[v] < static_cast<int>(space.variable(v).classes.size())) break;
          assignment[v] = 0;
        }
        if (i == varying.size()) break;
      }
    } else {
      add(assignment);
      for (std::size_t v : varying) {
        for (std::size_t c = 1; c < space.variable(v).classes.size(); ++c) {
          Space::Assignment one = assignment;
          one[v] = static_cast<int>(c);
          add(one);
        }
      }
    }
  } catch (const Budget&) {
    out.clear();
  }
  // The two requests every policy is asked about, whatever its space gave.
  Circumstance local = with_defaults({});
  Circumstance outside = with_defaults({});
  outside.request.rhost = "192.0.2.1";  // TEST-NET-1: in no set a real policy names
  out.push_back(std::move(local));
  out.push_back(std::move(outside));
  return out;
}

std::vector<std::string> local_users() {
  std::vector<std::string> users;
  setpwent();
  while (const passwd* entry = getpwent()) {
    if (entry->pw_uid != 0 && (entry->pw_uid < 1000 || entry->pw_uid == 65534)) continue;
    users.emplace_back(entry->pw_name);
  }
  endpwent();
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  return users;
}

bool permits(const Policy& policy, Circumstance& circumstance, const RequestInfo& request, long day,
             const std::map<std::string, Tri>* enrolled, ScriptedFactors& factors,
             GroupMemo& groups) {
  DaySubjects subjects(policy, day, circumstance.subjects, enrolled, groups);
  SilentConversation conversation;
  return decide(policy, request, subjects, factors, conversation).permit;
}

}  // namespace

std::vector<NotReady> users_not_ready(const Policy& policy, const std::string& service,
                                      std::time_t now) {
  std::vector<NotReady> out;
  // Only factors whose kind can tell enrolment take part; without one nobody is listed.
  std::vector<const FactorSpec*> told;
  for (const auto& factor : policy.factors) {
    if (factor.used && factor.kit && tells_enrolment(factor.kit->enrolment)) {
      told.push_back(&factor);
    }
  }
  if (told.empty()) return out;
  const SystemSubjects::PluginEnrolment plugin = plugin_enrolment_for(policy);
  const long today = local_time_of(now).day;
  std::set<long> days = {today};
  for (const auto& atom : policy.atoms) {
    if (atom.subject != Subject::date) continue;
    for (long d : {atom.day - 1, atom.day, atom.day + 1}) {
      if (d > today) days.insert(d);
    }
  }
  std::vector<Circumstance> around = circumstances(policy);
  for (const std::string& user : local_users()) {
    NotReady entry;
    entry.user = user;
    std::map<std::string, Tri> enrolled;
    ScriptedFactors real(Outcome::pass);
    for (const FactorSpec* factor : told) {
      const Enrolment e = read_enrolment(*factor, user, plugin);
      const Tri t = enrolment_value(e, nullptr);
      enrolled[factor->name] = t;
      if (t == Tri::yes) continue;
      // What the provider does then: nothing to ask (none), or a refusal (unknown: unsafe).
      real.set(factor->name, t == Tri::no ? Outcome::unavailable : Outcome::error);
      entry.missing.push_back({factor->name, e});
    }
    if (entry.missing.empty()) continue;
    ScriptedFactors all_pass(Outcome::pass);
    GroupMemo groups;
    for (long day : days) {
      bool refused = false;
      for (auto& circumstance : around) {
        RequestInfo request = circumstance.request;
        request.user = user;
        request.service = service;
        if (permits(policy, circumstance, request, day, nullptr, all_pass, groups) &&
            !permits(policy, circumstance, request, day, &enrolled, real, groups)) {
          refused = true;
          break;
        }
      }
      if (!refused) continue;
      entry.refused_from = day;
      entry.refused_now = day == today;
      out.push_back(std::move(entry));
      break;
    }
  }
  return out;
}

}  // namespace authpolicy::cli
