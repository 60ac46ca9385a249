// Placeholder-free GeoIP doorway until the libmaxminddb component lands: every lookup is unknown
// with a cause that says so, which the evaluator resolves the strict way.
#include "engine/geoip_lookup.h"

#include <unistd.h>

namespace authpolicy {

Lookup geoip_lookup(const Settings&, GeoField, const IpAddress&) {
  return Lookup{Lookup::Kind::unknown, {}, 0, "GeoIP support is not built in"};
}

std::string geoip_problem(const Settings& geoip, GeoField field) {
  const std::string path = field == GeoField::country
                               ? geoip.string_or("country", kDefaultCountryDatabase)
                               : geoip.string_or("asn", kDefaultAsnDatabase);
  if (access(path.c_str(), R_OK) != 0) return path + " is not readable";
  return "GeoIP support is not built in";
}

}  // namespace authpolicy
