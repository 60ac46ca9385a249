// Subject answers from the running system: NSS groups, the local clock, GeoIP databases, and a
// failure counter supplied by the front end (the audit log lives outside the engine).
#pragma once

#include <ctime>
#include <functional>
#include <optional>
#include <string>

#include "engine/evaluate.h"

namespace authpolicy {

class SystemSubjects : public SubjectSource {
 public:
  using FailureCounter = std::function<std::optional<long>(
      const RequestInfo& request, std::chrono::seconds window, bool by_rhost, std::string* cause)>;

  using RecentChecker =
      std::function<Tri(const RequestInfo& request, const Atom& atom, std::string* cause)>;

  // `geoip` is the policy's geoip settings block (country/asn paths, layout).
  SystemSubjects(const Settings& geoip, FailureCounter failures, std::time_t now = std::time(nullptr));

  // Where recent() atoms are answered; without one they are unknown.
  void set_recent_checker(RecentChecker recent) { recent_ = std::move(recent); }

  // How enrolled() is read for a kind whose plugin tells (EnrolmentStore::plugin): the module
  // asks the plugin, the CLI the library it links. Called only when such an atom is evaluated;
  // without one those atoms are unknown.
  using PluginEnrolment =
      std::function<Enrolment(const FactorSpec& factor, const std::string& user)>;
  void set_plugin_enrolment(PluginEnrolment read) { plugin_enrolment_ = std::move(read); }

  Tri in_group(const std::string& user, const std::string& group, std::string* cause) override;
  LocalTime local_time() override;
  Lookup country(const IpAddress& address) override;
  Lookup asn(const IpAddress& address) override;
  std::optional<long> failures(const RequestInfo& request, std::chrono::seconds window,
                               bool by_rhost, std::string* cause) override;
  Tri recent(const RequestInfo& request, const Atom& atom, std::string* cause) override;
  // Asks the factor's kit (FactorKit::enrolment) with its settings, or its plugin through the
  // reader set above.
  Tri enrolled(const RequestInfo& request, const FactorSpec& factor, std::string* cause) override;

 private:
  RecentChecker recent_;
  PluginEnrolment plugin_enrolment_;
  Settings geoip_;
  FailureCounter failures_;
  std::time_t now_;
};

// The user's enrolment for `factor` as its kind tells it: the kit's probe, else `plugin` for a
// kind whose plugin tells (null or empty reader: unknown), else unknown (the kind cannot tell).
Enrolment read_enrolment(const FactorSpec& factor, const std::string& user,
                         const SystemSubjects::PluginEnrolment& plugin);

// What the name service says about a typed user name.
struct UserNameLookup {
  enum class Status { found, unknown, error } status = Status::error;
  std::string name;  // the account's own name (pw_name) when found; the cause on error
};

// Asks the name service; the module's lookup. Finds by name only: no DNS, no reverse lookups.
using UserNameLookupFn = std::function<UserNameLookup(const std::string& typed)>;
UserNameLookup passwd_user_lookup(const std::string& typed);

// The one name every user condition and the audit log use: the account's own name when the
// name service knows the typed one (so "Alice" and "alice" are one user when a case-insensitive
// directory maps both to "alice"), else the typed bytes (an unknown user cannot log in anyway).
// nullopt when the name service fails: the caller refuses rather than let a deny rule miss.
std::optional<std::string> canonical_user_name(const std::string& typed,
                                               const UserNameLookupFn& lookup = passwd_user_lookup,
                                               std::string* cause = nullptr);

// Local time of a moment, as conditions see it.
LocalTime local_time_of(std::time_t moment);

}  // namespace authpolicy
