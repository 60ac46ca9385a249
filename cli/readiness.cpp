// Who is not ready for a policy: simulated logins per user, with the machine's enrolments.
#include "cli/readiness.h"

#include <pwd.h>

#include <algorithm>
#include <map>
#include <set>

#include "cli/situation.h"
#include "engine/evaluate.h"
#include "engine/scripted.h"
#include "engine/system_subjects.h"

namespace authpolicy::cli {
namespace {

// The machine's groups, GeoIP and enrolments; a fixed day at noon; no failures and no
// remembered passes (nothing in the audit log stands in for a factor).
class DaySubjects : public SystemSubjects {
 public:
  DaySubjects(const Policy& policy, long day, const std::map<std::string, Tri>* enrolled)
      : SystemSubjects(policy.geoip, nullptr), day_(day), enrolled_(enrolled) {}

  LocalTime local_time() override {
    // 1970-01-01 was a Thursday (weekday 3 with Monday 0).
    return LocalTime{12 * 60, static_cast<int>(((day_ % 7) + 7 + 3) % 7), day_};
  }
  std::optional<long> failures(const RequestInfo&, std::chrono::seconds, bool,
                               std::string*) override {
    return 0;
  }
  Tri recent(const RequestInfo&, const Atom&, std::string*) override { return Tri::no; }
  Tri enrolled(const RequestInfo&, const FactorSpec& factor, std::string* cause) override {
    if (!enrolled_) return Tri::yes;  // as if enrolled in everything
    const auto it = enrolled_->find(factor.name);
    if (it == enrolled_->end()) return Tri::yes;
    if (it->second == Tri::unknown && cause) *cause = "enrolment cannot be told";
    return it->second;
  }

 private:
  long day_;
  const std::map<std::string, Tri>* enrolled_;
};

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

bool permits(const Policy& policy, const RequestInfo& request, long day,
             const std::map<std::string, Tri>* enrolled, ScriptedFactors& factors) {
  DaySubjects subjects(policy, day, enrolled);
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
    std::vector<RequestInfo> requests(2);
    for (auto& r : requests) {
      r.user = user;
      r.service = service;
    }
    requests[1].rhost = "192.0.2.1";  // TEST-NET-1: in no set a real policy names
    for (long day : days) {
      bool refused = false;
      for (const auto& request : requests) {
        if (permits(policy, request, day, nullptr, all_pass) &&
            !permits(policy, request, day, &enrolled, real)) {
          refused = true;
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
