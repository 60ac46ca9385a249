// Fuzzes the audit spool reader (audit/spool.h): any bytes as a spool file's records. What it
// finds must encode to records that read back the same, and never more bytes than were given.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "audit/spool.h"

namespace {

using namespace authpolicy::audit;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "spool fuzz: %s\n", what);
  std::abort();
}

bool same(const AuditRecord& a, const AuditRecord& b) {
  if (a.time_us != b.time_us || a.service != b.service || a.user != b.user ||
      a.ruser != b.ruser || a.rhost != b.rhost || a.tty != b.tty || a.country != b.country ||
      a.asn != b.asn || a.policy_path != b.policy_path || a.policy_sha256 != b.policy_sha256 ||
      a.decision != b.decision || a.reason != b.reason || a.duration_us != b.duration_us ||
      a.pid != b.pid || a.password_asked != b.password_asked || a.decision_id != b.decision_id ||
      a.situation != b.situation || a.shadow != b.shadow ||
      a.factors.size() != b.factors.size() || a.unknowns.size() != b.unknowns.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.factors.size(); ++i) {
    const auto& x = a.factors[i];
    const auto& y = b.factors[i];
    if (x.name != y.name || x.outcome != y.outcome || x.detail != y.detail ||
        x.duration_us != y.duration_us) {
      return false;
    }
  }
  for (std::size_t i = 0; i < a.unknowns.size(); ++i) {
    if (a.unknowns[i].condition != b.unknowns[i].condition ||
        a.unknowns[i].cause != b.unknowns[i].cause) {
      return false;
    }
  }
  return true;
}

// Whatever `bytes` yield must read back the same once encoded again, and account for every byte.
// (A record with tagged fields this build does not know, or one given twice, encodes shorter
// again: the byte count is the scan's own.)
void check(std::string_view bytes) {
  const spool::Scan scan = spool::scan_records(bytes, 0);
  for (const auto& record : scan.records) {
    const std::string again = spool::encode_record(record);
    const spool::Scan back = spool::scan_records(again, 0);
    if (back.records.size() != 1 || back.skipped_bytes != 0) fail("a record does not read back");
    if (!same(back.records[0], record)) fail("a record reads back different");
  }
  if (scan.record_bytes + scan.skipped_bytes != bytes.size()) {
    fail("records and skipped bytes do not add up");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)spool::parse_header(bytes);
  check(bytes);  // as a spool file's records
  // As one record's fields behind a valid checksum (random bytes never forge one).
  if (size <= spool::kMaxPayloadBytes) check(spool::frame(bytes));
  return 0;
}
