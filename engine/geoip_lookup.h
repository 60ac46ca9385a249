// The engine's single doorway to GeoIP: the policy's geoip settings and an address in, a
// three-valued lookup out. The libmaxminddb component (engine/geoip/) sits behind it.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "engine/evaluate.h"

namespace authpolicy {

enum class GeoField { country, asn };

Lookup geoip_lookup(const Settings& geoip, GeoField field, const IpAddress& address);

// Why the database for `field` cannot be opened or does not hold that field (for the checker's
// W109); nullopt when it can and does.
std::optional<std::string> geoip_problem(const Settings& geoip, GeoField field);

// Where the first failure of each database goes (the PAM module sends it to syslog); by default
// nowhere: the cause is in the decision record anyway.
void set_geoip_failure_log(std::function<void(const std::string& path, const std::string& cause)> log);

}  // namespace authpolicy
