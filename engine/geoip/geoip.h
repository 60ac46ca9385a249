// GeoIP and ASN lookups in MaxMind DB (.mmdb) files: the subjects rhost.country and rhost.asn.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace authpolicy {

// Where a database keeps the country code. geoip2: MaxMind's GeoIP2/GeoLite2 and DB-IP layout,
// country.iso_code falling back to registered_country.iso_code. flat: ip-location-db and
// similar free databases, a top-level country_code. automatic: decided per file from the
// metadata's database_type and the shape of its records.
enum class GeoLayout { automatic, geoip2, flat };

std::string_view to_string(GeoLayout layout) noexcept;
// Accepts the policy spellings "auto" (or "automatic"), "geoip2" and "flat".
std::optional<GeoLayout> geo_layout_from_string(std::string_view text) noexcept;

// The `geoip { country = "…"; asn = "…"; layout = "auto" }` block. One file may serve both.
struct GeoIpSettings {
  static constexpr std::string_view default_country_path = "/var/lib/GeoIP/GeoLite2-Country.mmdb";
  static constexpr std::string_view default_asn_path = "/var/lib/GeoIP/GeoLite2-ASN.mmdb";

  std::string country_path{default_country_path};
  std::string asn_path{default_asn_path};
  GeoLayout layout = GeoLayout::automatic;
};

// The three-valued answer of one lookup (docs/language.md, "Conditions"). no_value: the address is known to
// have no country/ASN (no record, or a record without that field), so membership is false.
// unknown: it could not be determined (not an IP address, database missing, unreadable, corrupt
// or of the wrong type); guards resolve it the strict way and `cause` goes to the audit record.
struct GeoLookup {
  enum Kind { value, no_value, unknown };

  Kind kind = unknown;
  std::string text;       // kind == value: "DE" (upper case) or "15169"
  std::uint32_t asn = 0;  // kind == value of an ASN lookup
  std::string cause;      // kind == unknown: why, naming the file where one is involved

  static GeoLookup of_text(std::string text);
  static GeoLookup of_asn(std::uint32_t asn);
  static GeoLookup none();
  static GeoLookup unknown_because(std::string cause);
};

// What a database can answer, as found by open() or probe().
struct GeoDatabaseInfo {
  std::string path;
  std::string database_type;             // from the metadata, e.g. "GeoLite2-Country"
  GeoLayout layout = GeoLayout::geoip2;  // the layout in use (never automatic)
  int ip_version = 6;                    // 4: IPv6 addresses cannot be answered (unknown)
  bool has_country = false;              // false: country lookups are unknown (wrong type)
  bool has_asn = false;                  // false: ASN lookups are unknown (wrong type)
  std::uint64_t build_epoch = 0;         // seconds since 1970 when the file was built
  std::uint32_t node_count = 0;
};

// What `authpolicy check` reports about one configured file.
struct GeoProbe {
  bool readable = false;  // opened and its metadata is valid
  std::string problem;    // !readable: why, e.g. "cannot open: No such file or directory"
  GeoDatabaseInfo info;   // readable: what it holds
  std::vector<std::string> warnings;  // readable: caveats for the subjects asked about
};

// One open, memory-mapped .mmdb file. Lookups are const and safe from many threads at once.
class GeoIpDatabase {
 public:
  // Opens `path` with MMDB_MODE_MMAP. Returns null and sets *error (if given) to a sentence
  // naming the file when it is missing, not a regular file, unreadable, truncated or not a
  // MaxMind DB. Never throws for a bad file.
  static std::shared_ptr<const GeoIpDatabase> open(const std::string& path, GeoLayout layout,
                                                   std::string* error);

  // Opens `path` afresh (not through the cache) and says whether it can serve the subjects
  // asked for; for `authpolicy check`.
  static GeoProbe probe(const std::string& path, GeoLayout layout = GeoLayout::automatic,
                        bool for_country = true, bool for_asn = false);

  ~GeoIpDatabase();
  GeoIpDatabase(const GeoIpDatabase&) = delete;
  GeoIpDatabase& operator=(const GeoIpDatabase&) = delete;

  // `numeric_ip` is a numeric IPv4 or IPv6 address (an IPv6 zone "%eth0" is ignored); anything
  // else, host names included, is unknown "not an IP address" and no DNS is ever asked.
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is looked up as the IPv4 address.
  GeoLookup country(std::string_view numeric_ip) const;
  GeoLookup asn(std::string_view numeric_ip) const;

  const GeoDatabaseInfo& info() const { return info_; }

 private:
  struct Handle;
  struct Located;
  GeoIpDatabase(std::unique_ptr<Handle> handle, GeoDatabaseInfo info);
  // The steps country() and asn() share: parse the address, check the file can answer, find the
  // record. Either the record, or the answer that ends the lookup before one.
  Located locate(std::string_view numeric_ip, bool holds_field,
                 std::string (*missing_cause)(const GeoDatabaseInfo&)) const;

  std::unique_ptr<Handle> handle_;
  GeoDatabaseInfo info_;
};

// The process-wide cache: each (path, layout) is opened with mmap once per process and shared.
// The path is stat()ed again at most once per recheck interval (1 s by default), so a database
// replaced on disk (geoipupdate renames a new file in) is opened again soon after; an unchanged
// file is never reopened, and a failure is remembered until the file changes, so a broken
// database costs one open and one log line.
// On failure returns null, sets *error, and sets *first_failure to true for the one call that
// saw this failure first (log it then) and false for later calls. Thread-safe.
std::shared_ptr<const GeoIpDatabase> geoip_database(const std::string& path, GeoLayout layout,
                                                    std::string* error,
                                                    bool* first_failure = nullptr);

// Called once per failure (path, cause) so the caller can log it; no syslog in this component.
using GeoFailureLog = std::function<void(const std::string& path, const std::string& cause)>;

// The subjects as the evaluator asks for them: through the cache, unknown with the cause when
// the database cannot be used. A local request (no PAM_RHOST) has no address and is the
// caller's case (false, never unknown); an empty string here is unknown "not an IP address".
GeoLookup lookup_country(const GeoIpSettings& settings, std::string_view numeric_ip,
                         const GeoFailureLog& log_first_failure = {});
GeoLookup lookup_asn(const GeoIpSettings& settings, std::string_view numeric_ip,
                     const GeoFailureLog& log_first_failure = {});

// For tests and diagnostics: how many times the cache has called MMDB_open; how often it looks
// at the files again (0: on every call); and forgetting every cached database (shared_ptrs
// already handed out stay valid).
std::uint64_t geoip_cache_open_count() noexcept;
void geoip_cache_set_recheck_interval(std::chrono::nanoseconds interval) noexcept;
void geoip_cache_clear();

}  // namespace authpolicy
