// Opening one .mmdb file, deciding its layout, and answering country and ASN lookups from it.
#include "engine/geoip/geoip.h"

#include <maxminddb.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/address.h"
#include "base/file_trust.h"

namespace authpolicy {

struct GeoIpDatabase::Handle {
  MMDB_s mmdb{};
  ~Handle() { MMDB_close(&mmdb); }
};

namespace {

constexpr std::string_view kNotAnAddress = "not an IP address";

// Longest text accepted as an address: a full IPv6 address with an embedded IPv4 part and a
// generous zone name. Anything longer is not an address and is not copied.
constexpr std::size_t kMaxAddressText = 96;

bool is_zone_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// The address to look up, or nullopt: a strictly numeric IPv4 (dotted quad) or IPv6 text
// (base/address.h; IPv4-mapped IPv6 is IPv4, so it is found in IPv4-only databases and in IPv6
// databases without the ::ffff:0:0/96 alias alike). Never getaddrinfo (which MMDB_lookup_string
// uses): no DNS, and no inet_aton shorthands "127.1" or "0x7f000001". Unlike the policy and the
// audit log, a lookup takes an IPv6 zone ("fe80::1%eth0"): it says which link, not where the
// peer is, so it is dropped.
std::optional<IpAddress> lookup_address(std::string_view text) {
  if (text.size() > kMaxAddressText) return std::nullopt;
  const std::size_t percent = text.find('%');
  if (percent != std::string_view::npos) {
    const std::string_view zone = text.substr(percent + 1);
    if (text.find(':') == std::string_view::npos || zone.empty() ||
        !std::all_of(zone.begin(), zone.end(), is_zone_char)) {
      return std::nullopt;
    }
    text = text.substr(0, percent);
  }
  return IpAddress::parse(text);
}

bool contains_ignoring_case(std::string_view haystack, std::string_view needle) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  auto found = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                           [&](char a, char b) { return lower(a) == lower(b); });
  return found != haystack.end();
}

// Whether database_type names a database of MaxMind's GeoIP2 layout (MaxMind's own products and
// DB-IP's compatible files).
bool type_is_geoip2_family(std::string_view type) {
  return type.starts_with("GeoIP2-") || type.starts_with("GeoLite2-") ||
         type.starts_with("GeoIP-") || contains_ignoring_case(type, "dbip");
}

// Whether database_type names a product that carries country data; decides only when the
// sampled records are inconclusive.
bool type_says_country(std::string_view type) {
  return contains_ignoring_case(type, "country") || contains_ignoring_case(type, "city") ||
         contains_ignoring_case(type, "enterprise") || contains_ignoring_case(type, "insights");
}

bool type_says_asn(std::string_view type) {
  return contains_ignoring_case(type, "asn") || contains_ignoring_case(type, "isp") ||
         contains_ignoring_case(type, "enterprise");
}

std::string path_text(const char* const* path) {
  std::string text;
  for (; *path != nullptr; ++path) {
    if (!text.empty()) text += '.';
    text += *path;
  }
  return text;
}

// One field of a record: absent, present (with its data), malformed (a step of the path is not
// a map), or unreadable (corrupt data; `failure` says why).
struct FieldRead {
  enum State { absent, present, malformed, unreadable } state = absent;
  MMDB_entry_data_s data{};
  std::string failure;
};

// libmaxminddb answers both "key absent" and "not a map on the way" with
// MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR; only the second is a malformed record, so on that
// answer the path is walked one key at a time to tell them apart.
FieldRead read_field(const MMDB_entry_s& record, const char* const* path) {
  FieldRead field;
  MMDB_entry_s entry = record;
  int status = MMDB_aget_value(&entry, &field.data, path);
  if (status == MMDB_SUCCESS) {
    field.state = field.data.has_data ? FieldRead::present : FieldRead::absent;
    return field;
  }
  if (status != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
    field.state = FieldRead::unreadable;
    field.failure = "cannot read " + path_text(path) + ": " + MMDB_strerror(status);
    return field;
  }
  MMDB_entry_s step = record;
  for (const char* const* key = path; *key != nullptr; ++key) {
    const char* const here[] = {nullptr};
    MMDB_entry_data_s self{};
    if (MMDB_aget_value(&step, &self, here) != MMDB_SUCCESS || self.type != MMDB_DATA_TYPE_MAP) {
      field.state = FieldRead::malformed;
      field.failure = "malformed record: " + path_text(path) + " does not have the expected shape";
      return field;
    }
    const char* const one_key[] = {*key, nullptr};
    MMDB_entry_data_s next{};
    int step_status = MMDB_aget_value(&step, &next, one_key);
    if (step_status != MMDB_SUCCESS && step_status != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR) {
      field.state = FieldRead::unreadable;
      field.failure = "cannot read " + path_text(path) + ": " + MMDB_strerror(step_status);
      return field;
    }
    if (step_status != MMDB_SUCCESS || !next.has_data) {
      field.state = FieldRead::absent;
      return field;
    }
    step.offset = next.offset;
  }
  // Every key was found one by one although the whole path did not match: a shape problem.
  field.state = FieldRead::malformed;
  field.failure = "malformed record: " + path_text(path) + " does not have the expected shape";
  return field;
}

// Whether the record holds `path`, well-formed or not (a malformed field still shows what the
// database is meant to carry).
bool record_has(const MMDB_entry_s& record, const char* const* path) {
  FieldRead field = read_field(record, path);
  return field.state == FieldRead::present || field.state == FieldRead::malformed;
}

constexpr const char* kCountryIsoCode[] = {"country", "iso_code", nullptr};
constexpr const char* kRegisteredCountryIsoCode[] = {"registered_country", "iso_code", nullptr};
constexpr const char* kFlatCountryCode[] = {"country_code", nullptr};
constexpr const char* kAsNumber[] = {"autonomous_system_number", nullptr};
constexpr const char* kTraitsAsNumber[] = {"traits", "autonomous_system_number", nullptr};

// Which fields the first records of the search tree hold.
struct RecordShape {
  int sampled = 0;
  bool geoip2_country = false;
  bool flat_country = false;
  bool asn = false;
};

// Walks the search tree depth first, reading at most a few thousand nodes (a crafted file may
// loop), and looks at the first data records it meets.
RecordShape sample_record_shape(const MMDB_s& mmdb) {
  constexpr int kMaxNodeReads = 4096;
  constexpr int kMaxRecords = 32;
  RecordShape shape;
  std::vector<std::uint32_t> pending{0};
  int reads = 0;
  auto look_at = [&](std::uint8_t type, std::uint64_t record, const MMDB_entry_s& entry) {
    if (type == MMDB_RECORD_TYPE_SEARCH_NODE && record < mmdb.metadata.node_count) {
      pending.push_back(static_cast<std::uint32_t>(record));
      return;
    }
    if (type != MMDB_RECORD_TYPE_DATA) return;
    ++shape.sampled;
    shape.geoip2_country = shape.geoip2_country || record_has(entry, kCountryIsoCode) ||
                           record_has(entry, kRegisteredCountryIsoCode);
    shape.flat_country = shape.flat_country || record_has(entry, kFlatCountryCode);
    shape.asn = shape.asn || record_has(entry, kAsNumber) || record_has(entry, kTraitsAsNumber);
  };
  while (!pending.empty() && reads < kMaxNodeReads && shape.sampled < kMaxRecords) {
    std::uint32_t node_number = pending.back();
    pending.pop_back();
    ++reads;
    MMDB_search_node_s node{};
    if (MMDB_read_node(&mmdb, node_number, &node) != MMDB_SUCCESS) continue;
    // Pushed right first so the left (lower addresses) is looked at first.
    look_at(node.right_record_type, node.right_record, node.right_record_entry);
    look_at(node.left_record_type, node.left_record, node.left_record_entry);
  }
  return shape;
}

std::string describe_open_failure(int status, int saved_errno) {
  switch (status) {
    case MMDB_FILE_OPEN_ERROR:
      return std::string("cannot open: ") + std::strerror(saved_errno);
    case MMDB_IO_ERROR:
      return std::string("cannot read: ") + std::strerror(saved_errno);
    case MMDB_INVALID_METADATA_ERROR:
      return "not a MaxMind DB file, or truncated (no valid metadata at its end)";
    case MMDB_UNKNOWN_DATABASE_FORMAT_ERROR:
      return "unsupported MaxMind DB format version";
    case MMDB_OUT_OF_MEMORY_ERROR:
      return "out of memory while opening";
    default:
      return std::string("cannot open: ") + MMDB_strerror(status);
  }
}

// Two ASCII letters, returned upper case; anything else is not an ISO 3166 alpha-2 code.
std::optional<std::string> country_code_from(const MMDB_entry_data_s& data) {
  if (data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2) return std::nullopt;
  std::string code(data.utf8_string, 2);
  for (char& c : code) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c < 'A' || c > 'Z') return std::nullopt;
  }
  return code;
}

std::optional<std::uint32_t> as_number_from(const MMDB_entry_data_s& data) {
  switch (data.type) {
    case MMDB_DATA_TYPE_UINT16:
      return data.uint16;
    case MMDB_DATA_TYPE_UINT32:
      return data.uint32;
    case MMDB_DATA_TYPE_UINT64:
      if (data.uint64 > UINT32_MAX) return std::nullopt;
      return static_cast<std::uint32_t>(data.uint64);
    case MMDB_DATA_TYPE_INT32:
      if (data.int32 < 0) return std::nullopt;
      return static_cast<std::uint32_t>(data.int32);
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string_view to_string(GeoLayout layout) noexcept {
  switch (layout) {
    case GeoLayout::automatic:
      return "auto";
    case GeoLayout::geoip2:
      return "geoip2";
    case GeoLayout::flat:
      return "flat";
  }
  return "auto";
}

std::optional<GeoLayout> geo_layout_from_string(std::string_view text) noexcept {
  if (text == "auto" || text == "automatic") return GeoLayout::automatic;
  if (text == "geoip2") return GeoLayout::geoip2;
  if (text == "flat") return GeoLayout::flat;
  return std::nullopt;
}

GeoLookup GeoLookup::of_text(std::string text) {
  GeoLookup lookup;
  lookup.kind = value;
  lookup.text = std::move(text);
  return lookup;
}

GeoLookup GeoLookup::of_asn(std::uint32_t asn) {
  GeoLookup lookup = of_text(std::to_string(asn));
  lookup.asn = asn;
  return lookup;
}

GeoLookup GeoLookup::none() {
  GeoLookup lookup;
  lookup.kind = no_value;
  return lookup;
}

GeoLookup GeoLookup::unknown_because(std::string cause) {
  GeoLookup lookup;
  lookup.kind = unknown;
  lookup.cause = std::move(cause);
  return lookup;
}

GeoIpDatabase::GeoIpDatabase(std::unique_ptr<Handle> handle, GeoDatabaseInfo info)
    : handle_(std::move(handle)), info_(std::move(info)) {}

GeoIpDatabase::~GeoIpDatabase() = default;

std::shared_ptr<const GeoIpDatabase> GeoIpDatabase::open(const std::string& path, GeoLayout layout,
                                                         std::string* error) {
  auto fail = [&](const std::string& why) -> std::shared_ptr<const GeoIpDatabase> {
    if (error != nullptr) *error = "GeoIP database " + path + ": " + why;
    return nullptr;
  };
  if (path.empty()) return fail("no file configured");
  // The answers decide logins, so the file is trusted like a policy: root-owned, not writable by
  // group or others, in folders only root can change (base/file_trust.h). Missing or unreadable
  // keep their plain wording; an untrusted file says which component broke which rule.
  const TrustedFile file = open_trusted(path, TrustRules{});
  switch (file.status) {
    case TrustStatus::ok:
      break;
    case TrustStatus::missing:
    case TrustStatus::io_error:
      if (file.error_number != 0 && file.error_number != ENOTDIR) {
        return fail(std::string("cannot open: ") + std::strerror(file.error_number));
      }
      return fail("cannot open: " + file.reason);
    case TrustStatus::unsafe:
      // Only regular files: a FIFO would block the login, a directory cannot be mapped.
      if (file.reason.ends_with(" is not a regular file")) {
        return fail("not a regular file");
      }
      return fail("refused: " + file.reason);
  }
  if (file.info.st_size == 0) return fail("empty file, not a MaxMind DB file");

  // libmaxminddb opens by name: the descriptor's /proc/self/fd link re-opens the very file that
  // was checked, whatever happens to the path meanwhile.
  const std::string checked = "/proc/self/fd/" + std::to_string(file.fd());
  auto handle = std::make_unique<Handle>();
  errno = 0;
  int status = MMDB_open(checked.c_str(), MMDB_MODE_MMAP, &handle->mmdb);
  int saved_errno = errno;
  if (status != MMDB_SUCCESS) {
    // MMDB_open has already released what it allocated; the zeroed struct is safe to close.
    handle->mmdb = MMDB_s{};
    return fail(describe_open_failure(status, saved_errno));
  }
  if (handle->mmdb.file_size != static_cast<ssize_t>(file.info.st_size)) {
    return fail("changed while it was being opened");
  }

  const MMDB_s& mmdb = handle->mmdb;
  GeoDatabaseInfo info;
  info.path = path;
  info.database_type = mmdb.metadata.database_type != nullptr ? mmdb.metadata.database_type : "";
  info.ip_version = mmdb.metadata.ip_version;
  info.build_epoch = mmdb.metadata.build_epoch;
  info.node_count = mmdb.metadata.node_count;
  if (info.ip_version != 4 && info.ip_version != 6) {
    return fail("unsupported ip_version " + std::to_string(info.ip_version) + " in metadata");
  }

  RecordShape shape = sample_record_shape(mmdb);
  info.layout = layout;
  if (layout == GeoLayout::automatic) {
    bool flat =
        !type_is_geoip2_family(info.database_type) && shape.flat_country && !shape.geoip2_country;
    info.layout = flat ? GeoLayout::flat : GeoLayout::geoip2;
  }
  bool country_seen = info.layout == GeoLayout::flat ? shape.flat_country : shape.geoip2_country;
  // An empty tree answers "no value" everywhere; otherwise the records decide, and the name of
  // a known product only where the first records happen to lack the field. Names of other
  // files ("geo-whois-asn-country") say nothing about the layout asked for.
  bool known_product = type_is_geoip2_family(info.database_type);
  info.has_country =
      country_seen || shape.sampled == 0 ||
      (info.layout == GeoLayout::geoip2 && known_product && type_says_country(info.database_type));
  info.has_asn =
      shape.asn || shape.sampled == 0 || (known_product && type_says_asn(info.database_type));

  return std::shared_ptr<const GeoIpDatabase>(new GeoIpDatabase(std::move(handle), info));
}

struct GeoIpDatabase::Located {
  std::optional<GeoLookup> answer;  // set when the lookup ends here (unknown, or no record)
  MMDB_entry_s entry{};
};

GeoIpDatabase::Located GeoIpDatabase::locate(
    std::string_view numeric_ip, bool holds_field,
    std::string (*missing_cause)(const GeoDatabaseInfo&)) const {
  Located located;
  const std::optional<IpAddress> address = lookup_address(numeric_ip);
  if (!address) {
    located.answer = GeoLookup::unknown_because(std::string(kNotAnAddress));
    return located;
  }
  if (!holds_field) {
    located.answer = GeoLookup::unknown_because(missing_cause(info_));
    return located;
  }
  if (!address->v4 && info_.ip_version == 4) {
    located.answer = GeoLookup::unknown_because("GeoIP database " + info_.path +
                                                " is IPv4-only and cannot place an IPv6 address");
    return located;
  }
  sockaddr_storage socket_address;
  address->to_sockaddr(socket_address);
  int mmdb_error = MMDB_SUCCESS;
  MMDB_lookup_result_s result = MMDB_lookup_sockaddr(
      &handle_->mmdb, reinterpret_cast<const sockaddr*>(&socket_address), &mmdb_error);
  if (mmdb_error != MMDB_SUCCESS) {
    located.answer = GeoLookup::unknown_because("GeoIP database " + info_.path +
                                                ": lookup failed: " + MMDB_strerror(mmdb_error));
    return located;
  }
  if (!result.found_entry) {
    located.answer = GeoLookup::none();
    return located;
  }
  located.entry = result.entry;
  return located;
}

GeoLookup GeoIpDatabase::country(std::string_view numeric_ip) const {
  Located located = locate(numeric_ip, info_.has_country, [](const GeoDatabaseInfo& info) {
    std::string cause = "GeoIP database " + info.path + " holds no country data";
    if (info.layout == GeoLayout::flat) cause += " (no country_code field; layout flat)";
    if (!info.database_type.empty()) cause += " (database_type " + info.database_type + ")";
    return cause;
  });
  if (located.answer) return std::move(*located.answer);
  // Built only on the way to an unknown: the common path allocates nothing for it.
  auto where = [this] { return "GeoIP database " + info_.path; };

  const char* const* paths[2] = {kFlatCountryCode, nullptr};
  if (info_.layout == GeoLayout::geoip2) {
    paths[0] = kCountryIsoCode;
    paths[1] = kRegisteredCountryIsoCode;  // e.g. satellite and anycast networks
  }
  for (const char* const* path : paths) {
    if (path == nullptr) break;
    FieldRead field = read_field(located.entry, path);
    if (field.state == FieldRead::absent) continue;
    if (field.state != FieldRead::present) {
      return GeoLookup::unknown_because(where() + ": " + field.failure);
    }
    std::optional<std::string> code = country_code_from(field.data);
    if (!code) {
      return GeoLookup::unknown_because(where() + ": malformed record: " + path_text(path) +
                                        " is not a two-letter country code");
    }
    return GeoLookup::of_text(std::move(*code));
  }
  return GeoLookup::none();
}

GeoLookup GeoIpDatabase::asn(std::string_view numeric_ip) const {
  Located located = locate(numeric_ip, info_.has_asn, [](const GeoDatabaseInfo& info) {
    std::string cause = "GeoIP database " + info.path + " holds no ASN data";
    if (!info.database_type.empty()) cause += " (database_type " + info.database_type + ")";
    return cause;
  });
  if (located.answer) return std::move(*located.answer);
  auto where = [this] { return "GeoIP database " + info_.path; };
  // GeoIP2 Enterprise and Insights keep the AS number under traits.
  for (const char* const* path : {kAsNumber, kTraitsAsNumber}) {
    FieldRead field = read_field(located.entry, path);
    if (field.state == FieldRead::absent) continue;
    if (field.state != FieldRead::present) {
      return GeoLookup::unknown_because(where() + ": " + field.failure);
    }
    std::optional<std::uint32_t> number = as_number_from(field.data);
    if (!number) {
      return GeoLookup::unknown_because(where() + ": malformed record: " + path_text(path) +
                                        " is not an AS number");
    }
    return GeoLookup::of_asn(*number);
  }
  return GeoLookup::none();
}

GeoProbe GeoIpDatabase::probe(const std::string& path, GeoLayout layout, bool for_country,
                              bool for_asn) {
  GeoProbe report;
  std::string error;
  std::shared_ptr<const GeoIpDatabase> database = open(path, layout, &error);
  if (!database) {
    report.problem = error;
    return report;
  }
  report.readable = true;
  report.info = database->info();
  const GeoDatabaseInfo& info = report.info;
  const std::string where = "GeoIP database " + path;
  if (for_country && !info.has_country) {
    report.warnings.push_back(where + " holds no country data" +
                              (info.layout == GeoLayout::flat ? " for layout flat" : "") +
                              "; rhost.country will be unknown");
  }
  if (for_asn && !info.has_asn) {
    report.warnings.push_back(where + " holds no ASN data; rhost.asn will be unknown");
  }
  if (info.ip_version == 4) {
    report.warnings.push_back(where + " is IPv4-only; lookups for IPv6 clients will be unknown");
  }
  return report;
}

}  // namespace authpolicy
