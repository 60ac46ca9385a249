// Adapts the policy's geoip settings to the libmaxminddb component and its answers to Lookup.
#include "engine/geoip_lookup.h"

#include <mutex>

#include "engine/geoip/geoip.h"

namespace authpolicy {
namespace {

GeoIpSettings to_geoip_settings(const Settings& geoip) {
  GeoIpSettings s;
  s.country_path = geoip.string_or("country", s.country_path);
  s.asn_path = geoip.string_or("asn", s.asn_path);
  s.layout = geo_layout_from_string(geoip.string_or("layout", "auto")).value_or(GeoLayout::automatic);
  return s;
}

std::mutex log_mutex;
GeoFailureLog failure_log;

}  // namespace

void set_geoip_failure_log(std::function<void(const std::string&, const std::string&)> log) {
  std::lock_guard<std::mutex> lock(log_mutex);
  failure_log = std::move(log);
}

Lookup geoip_lookup(const Settings& geoip, GeoField field, const IpAddress& address) {
  const GeoIpSettings settings = to_geoip_settings(geoip);
  GeoFailureLog log;
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    log = failure_log;
  }
  const std::string ip = address.to_string();
  const GeoLookup r = field == GeoField::country ? lookup_country(settings, ip, log)
                                                 : lookup_asn(settings, ip, log);
  switch (r.kind) {
    case GeoLookup::value: return Lookup{Lookup::Kind::value, r.text, r.asn, {}};
    case GeoLookup::no_value: return Lookup{Lookup::Kind::no_value, {}, 0, {}};
    case GeoLookup::unknown: break;
  }
  return Lookup{Lookup::Kind::unknown, {}, 0, r.cause};
}

std::optional<std::string> geoip_problem(const Settings& geoip, GeoField field) {
  const GeoIpSettings s = to_geoip_settings(geoip);
  const bool country = field == GeoField::country;
  const GeoProbe probe =
      GeoIpDatabase::probe(country ? s.country_path : s.asn_path, s.layout, country, !country);
  if (!probe.readable) return probe.problem;
  if (probe.warnings.empty()) return std::nullopt;
  return probe.warnings.front();
}

}  // namespace authpolicy
