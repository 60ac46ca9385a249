// What one authentication decision leaves in the audit log: the store's own types, free of engine/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace authpolicy::audit {

// One factor the evaluator asked (or probed) during the decision.
struct FactorAttempt {
  std::string name;     // "password", "totp", or a pam() factor's name
  std::string outcome;  // "pass", "fail", "unavailable", "error"
  std::string detail;   // short cause: "locked", "timeout", "no device"; never a secret
  std::int64_t duration_us = 0;
};

// A condition that evaluated to unknown, and why (docs/language.md, "Conditions").
struct UnknownCondition {
  std::string condition;  // e.g. "rhost.country in { DE }"
  std::string cause;      // e.g. "GeoIP database unreadable"
};

// One decision. The record carries no secret by construction: there is no field for one.
struct AuditRecord {
  std::int64_t time_us = 0;  // UTC, microseconds since the Unix epoch; 0 = now, filled on write
  // 32 lowercase hex digits (128 random bits), the same in the log, the journal and an export;
  // empty = a new one, filled on write. Decisions logged before schema 4 read back empty.
  std::string decision_id;
  std::string service;
  std::string user;
  std::string ruser;
  std::string rhost;  // PAM_RHOST as given; empty when unset (a local request)
  std::string tty;
  std::optional<std::string> country;  // ISO 3166 alpha-2, when looked up and found
  std::optional<std::uint32_t> asn;    // autonomous system number, when looked up and found
  std::string policy_path;
  std::string policy_sha256;  // hex SHA-256 of the policy text the decision used
  std::string decision;       // "permit" or "deny"; anything else is refused by write()
  std::string reason;
  std::int64_t duration_us = 0;
  std::int64_t pid = 0;
  bool password_asked = false;
  std::vector<FactorAttempt> factors;      // in the order they were asked
  std::vector<UnknownCondition> unknowns;  // in the order they were met
  // The request's situation as `authpolicy eval` knobs, one "KNOB VALUE" per line
  // (engine/recorded_request.h); empty when not recorded (an older release, an account check,
  // an unusable policy). What `authpolicy replay` decides the request again from.
  std::string situation;
  // A shadow policy's verdict on the same request: "" (no shadow), "same", "different",
  // "would ask FACTOR", or "error: CAUSE" (docs/audit.md, "Shadow policy").
  std::string shadow;
};

// A fresh decision id: 32 lowercase hex digits from the kernel's random pool.
std::string new_decision_id();

// A record as read back, with its row id (increasing in write order).
struct StoredDecision {
  std::int64_t id = 0;
  AuditRecord record;
};

}  // namespace authpolicy::audit
