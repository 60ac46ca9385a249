// The engine's single doorway to GeoIP: the policy's geoip settings and an address in, a
// three-valued lookup out. The database component sits behind it.
#pragma once

#include "engine/evaluate.h"

namespace authpolicy {

enum class GeoField { country, asn };

inline constexpr const char* kDefaultCountryDatabase = "/var/lib/GeoIP/GeoLite2-Country.mmdb";
inline constexpr const char* kDefaultAsnDatabase = "/var/lib/GeoIP/GeoLite2-ASN.mmdb";

Lookup geoip_lookup(const Settings& geoip, GeoField field, const IpAddress& address);

// Empty when the database for `field` can be opened and read, else why not (for the checker).
std::string geoip_problem(const Settings& geoip, GeoField field);

}  // namespace authpolicy
