// Formatting of a decision as key=value fields with injection-safe quoting.
#include "audit/syslog_line.h"

#include <cstdio>
#include <map>

#include "audit/time_text.h"

namespace authpolicy::audit {
namespace {

bool is_bare(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '/' || c == '@' || c == '+' || c == ',' || c == '-';
}

// Factor names become part of a key: keep them to key characters.
std::string key_part(std::string_view name) {
  std::string key;
  for (char c : name) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
    key += keep ? c : '_';
  }
  return key.empty() ? std::string("_") : key;
}

void field(std::string* line, std::string_view key, std::string_view value) {
  if (!line->empty()) *line += ' ';
  *line += key;
  *line += '=';
  *line += syslog_value(value);
}

std::string milliseconds(std::int64_t micros) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", static_cast<double>(micros) / 1000.0);
  return buffer;
}

}  // namespace

std::string syslog_value(std::string_view value) {
  bool bare = !value.empty();
  for (char c : value) bare = bare && is_bare(c);
  if (bare) return std::string(value);
  std::string quoted = "\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buffer[5];
      std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
      quoted += buffer;
    } else {
      quoted += static_cast<char>(c);
    }
  }
  quoted += '"';
  return quoted;
}

std::string format_syslog_line(const AuditRecord& record) {
  std::string line;
  field(&line, "decision", record.decision);
  field(&line, "service", record.service);
  field(&line, "user", record.user);
  field(&line, "ruser", record.ruser);
  field(&line, "rhost", record.rhost);
  field(&line, "tty", record.tty);
  if (record.country) field(&line, "country", *record.country);
  if (record.asn) field(&line, "asn", std::to_string(*record.asn));
  field(&line, "reason", record.reason);
  field(&line, "policy", record.policy_path);
  field(&line, "policy_sha256", record.policy_sha256);
  field(&line, "password_asked", record.password_asked ? "yes" : "no");
  field(&line, "duration_ms", milliseconds(record.duration_us));
  field(&line, "pid", std::to_string(record.pid));
  if (record.time_us != 0) field(&line, "time", format_utc_iso(record.time_us));
  // The same factor may be asked twice (a retry): later ones get "#2", "#3" in their key.
  std::map<std::string, int> seen;
  for (const auto& factor : record.factors) {
    // Built with append: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string at -O2.
    std::string key = "factor.";
    key.append(key_part(factor.name));
    int count = ++seen[key];
    if (count > 1) key.append("#").append(std::to_string(count));
    field(&line, key, factor.outcome);
    if (!factor.detail.empty()) field(&line, key + ".detail", factor.detail);
  }
  int index = 0;
  for (const auto& unknown : record.unknowns) {
    std::string key = "unknown.";
    key.append(std::to_string(++index));
    field(&line, key, unknown.condition);
    field(&line, key + ".cause", unknown.cause);
  }
  return line;
}

}  // namespace authpolicy::audit
