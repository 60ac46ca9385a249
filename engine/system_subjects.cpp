// NSS group membership, local time, GeoIP lookups and the failure counter for real requests.
#include "engine/system_subjects.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/user_lookup.h"
#include "engine/geoip_lookup.h"

namespace authpolicy {

LocalTime local_time_of(std::time_t moment) {
  std::tm parts{};
  localtime_r(&moment, &parts);
  return LocalTime{parts.tm_hour * 60 + parts.tm_min, (parts.tm_wday + 6) % 7,
                   days_from_civil(parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday)};
}

UserNameLookup passwd_user_lookup(const std::string& typed) {
  const UserLookup found = find_user(typed);
  switch (found.status) {
    case UserLookup::Status::found: return {UserNameLookup::Status::found, found.account.name};
    case UserLookup::Status::unknown: return {UserNameLookup::Status::unknown, {}};
    case UserLookup::Status::error: break;
  }
  return {UserNameLookup::Status::error, found.reason};
}

std::optional<std::string> canonical_user_name(const std::string& typed,
                                               const UserNameLookupFn& lookup, std::string* cause) {
  // A name with a NUL would be looked up as its prefix: keep it as typed (the module refuses it).
  if (typed.empty() || typed.find('\0') != std::string::npos) return typed;
  const UserNameLookup answer = lookup(typed);
  switch (answer.status) {
    case UserNameLookup::Status::found:
      if (answer.name.empty()) break;
      return answer.name;
    case UserNameLookup::Status::unknown:
      return typed;
    case UserNameLookup::Status::error:
      if (cause) *cause = answer.name.empty() ? "user database unavailable" : answer.name;
      return std::nullopt;
  }
  if (cause) *cause = "user database returned an empty name";
  return std::nullopt;
}

SystemSubjects::SystemSubjects(const Settings& geoip, FailureCounter failures, std::time_t now)
    : geoip_(geoip), failures_(std::move(failures)), now_(now) {}

Tri SystemSubjects::in_group(const std::string& user, const std::string& group, std::string* cause) {
  auto unknown = [&](std::string why) {
    if (cause) *cause = std::move(why);
    return Tri::unknown;
  };
  const UserLookup found_user = find_user(user);
  if (found_user.status == UserLookup::Status::error) return unknown("user database unavailable");
  if (!found_user.found()) return Tri::no;  // an unknown user is in no group
  std::vector<char> group_buffer(16384);
  struct group gr {};
  struct group* found_group = nullptr;
  if (getgrnam_r(group.c_str(), &gr, group_buffer.data(), group_buffer.size(), &found_group) != 0) {
    return unknown("group database unavailable");
  }
  if (!found_group) return Tri::no;
  const gid_t wanted = found_group->gr_gid;
  const auto groups = group_ids(user, found_user.account.gid);
  if (!groups) return unknown("group list unavailable");
  return std::find(groups->begin(), groups->end(), wanted) != groups->end() ? Tri::yes : Tri::no;
}

LocalTime SystemSubjects::local_time() { return local_time_of(now_); }

Lookup SystemSubjects::country(const IpAddress& address) {
  return geoip_lookup(geoip_, GeoField::country, address);
}

Lookup SystemSubjects::asn(const IpAddress& address) {
  return geoip_lookup(geoip_, GeoField::asn, address);
}

std::optional<long> SystemSubjects::failures(const RequestInfo& request, std::chrono::seconds window,
                                             bool by_rhost, std::string* cause) {
  if (!failures_) {
    if (cause) *cause = "no audit log configured";
    return std::nullopt;
  }
  return failures_(request, window, by_rhost, cause);
}

Tri SystemSubjects::recent(const RequestInfo& request, const Atom& atom, std::string* cause) {
  if (!recent_) {
    if (cause) *cause = "no audit log configured";
    return Tri::unknown;
  }
  return recent_(request, atom, cause);
}

Enrolment read_enrolment(const FactorSpec& factor, const std::string& user,
                         const SystemSubjects::PluginEnrolment& plugin) {
  if (factor.kit && factor.kit->enrolment.probe) {
    return factor.kit->enrolment.probe(factor.settings, user);
  }
  if (factor.kit && factor.kit->enrolment.plugin) {
    if (plugin) return plugin(factor, user);
    return {Enrolment::State::unknown,
            "factor '" + factor.name + "': this program cannot reach its enrolment store"};
  }
  return {Enrolment::State::unknown,
          "factor '" + factor.name + "' cannot tell whether a user has enrolled"};
}

Tri SystemSubjects::enrolled(const RequestInfo& request, const FactorSpec& factor,
                             std::string* cause) {
  return enrolment_value(read_enrolment(factor, request.user, plugin_enrolment_), cause);
}

}  // namespace authpolicy
