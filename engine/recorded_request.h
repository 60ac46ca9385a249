// The situation a decision was made in, kept with its audit record so that another policy can
// decide the same request again (`authpolicy replay`, a shadow policy) without asking anything.
//
// The situation is written as `authpolicy eval` knobs, one "KNOB VALUE" per line ("at
// 2026-12-07T09:30", "group wheel", "failures 900s=2", "recent totp/28800s/rhost=yes",
// "country DE"), so the recorded request is exactly an eval situation: `authpolicy eval
// --KNOB VALUE ...` decides it the way replay does. A new subject is recorded by writing one
// more knob here and teaching cli/situation.cpp (eval's reader, which replay uses) to read it.
#pragma once

#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/evaluate.h"
#include "engine/scripted.h"

namespace authpolicy {

// Forwards every question to `inner` and remembers the answers the decision used.
class RecordingSubjects : public SubjectSource {
 public:
  explicit RecordingSubjects(SubjectSource& inner) : inner_(inner) {}

  Tri in_group(const std::string& user, const std::string& group, std::string* cause) override;
  LocalTime local_time() override { return inner_.local_time(); }
  Lookup country(const IpAddress& address) override;
  Lookup asn(const IpAddress& address) override;
  std::optional<long> failures(const RequestInfo& request, std::chrono::seconds window,
                               bool by_rhost, std::string* cause) override;
  Tri recent(const RequestInfo& request, const Atom& atom, std::string* cause) override;
  // Forwarded every time (a shadow policy's factor of the same name may keep its enrolments
  // elsewhere); the first answer per factor name is what the record holds.
  Tri enrolled(const RequestInfo& request, const FactorSpec& factor, std::string* cause) override;

  // The situation lines: the wall-clock time `now` (local), the user's groups (all of them, as
  // `groups` gives them; nullopt when they were not looked up or the lookup failed: "groups
  // unknown"), then every failures,
  // recent, enrolled, country and asn answer given so far. Values holding a line break are left out.
  // `ssh_auth_info`: the request's SSH_AUTH_INFO_0, recorded as "ssh-auth METHOD,..." (or
  // "empty"); absent or malformed, no line (eval's default, unknown).
  std::string situation_text(std::time_t now,
                             const std::optional<std::vector<std::string>>& groups,
                             const std::optional<std::string>& ssh_auth_info = std::nullopt) const;

  // Answers given so far, for a second evaluation of the same request (a shadow policy).
  const std::map<std::string, std::optional<long>>& failure_answers() const { return failures_; }
  const std::map<std::string, Tri>& recent_answers() const { return recent_; }

 private:
  SubjectSource& inner_;
  std::map<std::string, std::optional<long>> failures_;  // by failures_key()
  std::map<std::string, Tri> recent_;                     // by recent_key()
  std::map<std::string, Tri> enrolled_;                   // by factor name
  std::optional<Lookup> country_;
  std::optional<Lookup> asn_;
};

// Every group the user is in (primary and supplementary) by name, from the name service; an
// unknown user is in none. nullopt (with cause) when the name service fails.
std::optional<std::vector<std::string>> user_group_names(const std::string& user,
                                                         std::string* cause);

// Factor outcomes as the recorded decision left them. A factor the record does not hold is not
// asked (no one is there to ask): it counts as unavailable and is noted in missing().
class RecordedFactors : public FactorSource {
 public:
  void set(const std::string& name, Outcome outcome);
  FactorProvider* provider(const FactorSpec& spec, std::string* error) override;
  const std::vector<std::string>& missing() const { return missing_; }

 private:
  ScriptedFactors scripted_{Outcome::unavailable};
  std::map<std::string, Outcome, std::less<>> known_;
  std::vector<std::string> missing_;
};

}  // namespace authpolicy
