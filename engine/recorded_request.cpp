// Recording the answers a decision used, and giving a decision's factor outcomes back.
#include "engine/recorded_request.h"
#include "engine/ssh_auth.h"

#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "base/user_lookup.h"

namespace authpolicy {
namespace {

std::string lookup_text(const Lookup& answer, bool country) {
  switch (answer.kind) {
    case Lookup::Kind::value: return country ? answer.text : std::to_string(answer.number);
    case Lookup::Kind::no_value: return "none";
    case Lookup::Kind::unknown: break;
  }
  return "unknown";
}

std::string tri_text(Tri answer) {
  return answer == Tri::yes ? "yes" : answer == Tri::no ? "no" : "unknown";
}

// One "KNOB VALUE" line; a value with a line break cannot be one line and is left out (no name
// service or log gives one, but nothing here trusts that).
void add_line(std::string& out, const char* knob, const std::string& value) {
  if (value.find_first_of("\n\r") != std::string::npos) return;
  out += knob;
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

Tri RecordingSubjects::in_group(const std::string& user, const std::string& group,
                                std::string* cause) {
  // Not remembered: the record holds the user's whole group list, which answers any group.
  return inner_.in_group(user, group, cause);
}

Lookup RecordingSubjects::country(const IpAddress& address) {
  Lookup answer = inner_.country(address);
  country_ = answer;
  return answer;
}

Lookup RecordingSubjects::asn(const IpAddress& address) {
  Lookup answer = inner_.asn(address);
  asn_ = answer;
  return answer;
}

std::optional<long> RecordingSubjects::failures(const RequestInfo& request,
                                                std::chrono::seconds window, bool by_rhost,
                                                std::string* cause) {
  const std::string key = failures_key(window, by_rhost);
  if (auto it = failures_.find(key); it != failures_.end()) {
    if (!it->second && cause) *cause = "audit log unavailable";
    return it->second;
  }
  auto answer = inner_.failures(request, window, by_rhost, cause);
  failures_[key] = answer;
  return answer;
}

Tri RecordingSubjects::recent(const RequestInfo& request, const Atom& atom, std::string* cause) {
  const std::string key = recent_key(atom);
  if (auto it = recent_.find(key); it != recent_.end()) {
    if (it->second == Tri::unknown && cause) *cause = "audit log unavailable";
    return it->second;
  }
  const Tri answer = inner_.recent(request, atom, cause);
  recent_[key] = answer;
  return answer;
}

Tri RecordingSubjects::enrolled(const RequestInfo& request, const FactorSpec& factor,
                                std::string* cause) {
  const Tri answer = inner_.enrolled(request, factor, cause);
  enrolled_.try_emplace(factor.name, answer);
  return answer;
}

std::string RecordingSubjects::situation_text(
    std::time_t now, const std::optional<std::vector<std::string>>& groups,
    const std::optional<std::string>& ssh_auth_info) const {
  std::string out;
  std::tm parts{};
  localtime_r(&now, &parts);
  char at[64];
  std::snprintf(at, sizeof at, "%04d-%02d-%02dT%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1,
                parts.tm_mday, parts.tm_hour, parts.tm_min);
  add_line(out, "at", at);
  if (groups) {
    for (const auto& group : *groups) add_line(out, "group", group);
  } else {
    add_line(out, "groups", "unknown");
  }
  for (const auto& [key, count] : failures_) {
    add_line(out, "failures", key + "=" + (count ? std::to_string(*count) : "unknown"));
  }
  for (const auto& [key, answer] : recent_) add_line(out, "recent", key + "=" + tri_text(answer));
  for (const auto& [name, answer] : enrolled_) {
    add_line(out, "enrolled", name + "=" + tri_text(answer));
  }
  if (country_) add_line(out, "country", lookup_text(*country_, true));
  if (asn_) add_line(out, "asn", lookup_text(*asn_, false));
  if (ssh_auth_info) {
    std::string problem;
    if (const auto mask = parse_ssh_auth_info(*ssh_auth_info, &problem)) {
      std::string methods;
      for (std::string_view method : kSshMethods) {
        if ((*mask & *ssh_method_bit(method)) == 0) continue;
        methods += (methods.empty() ? "" : ",") + std::string(method);
      }
      add_line(out, "ssh-auth", methods.empty() ? "empty" : methods);
    }
  }
  return out;
}

std::optional<std::vector<std::string>> user_group_names(const std::string& user,
                                                         std::string* cause) {
  auto unknown = [&](const char* why) -> std::optional<std::vector<std::string>> {
    if (cause) *cause = why;
    return std::nullopt;
  };
  const UserLookup found = find_user(user);
  if (found.status == UserLookup::Status::error) return unknown("user database unavailable");
  if (!found.found()) return std::vector<std::string>{};
  const auto gids = group_ids(user, found.account.gid);
  if (!gids) return unknown("group list unavailable");
  std::vector<std::string> names;
  std::vector<char> buffer(16384);
  for (gid_t gid : *gids) {
    struct group entry {};
    struct group* result = nullptr;
    if (getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &result) != 0) {
      return unknown("group database unavailable");
    }
    // A gid without a name cannot be named in a policy: nothing to record.
    if (result && result->gr_name) names.emplace_back(result->gr_name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

void RecordedFactors::set(const std::string& name, Outcome outcome) {
  // The first attempt of a factor is the one the decision used; a later one is not a new answer.
  if (known_.emplace(name, outcome).second) scripted_.set(name, outcome);
}

FactorProvider* RecordedFactors::provider(const FactorSpec& spec, std::string* error) {
  if (known_.find(spec.name) == known_.end() &&
      std::find(missing_.begin(), missing_.end(), spec.name) == missing_.end()) {
    missing_.push_back(spec.name);
  }
  return scripted_.provider(spec, error);
}

}  // namespace authpolicy
