// The audit spool's file format: decisions appended beside the database, one framed record each,
// until the next reader moves them into it (docs/audit.md, "The spool"; docs/cost.md for why).
//
// A spool file is a header, then records:
//   header  "APSPOOL1", generation (8 random bytes naming this file's life since it was last
//           emptied), time of its first record (int64, UTC microseconds)
//   record  "APR2", payload length (uint32), FNV-1a 64 of the payload, the payload: the record's
//           fields in a fixed order, then tagged fields (count, then tag and text each). "APR1"
//           records (written before schema 4) have no tagged fields; both are read.
// All integers are little-endian. A record is written with one write(2) under the spool's lock,
// and a writer that could not write all of it cuts the file back, so a damaged record can only
// come from a crash in the middle of a write or from outside meddling: readers skip it (and
// resynchronise on the next record that checks out) instead of trusting it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_record.h"

namespace authpolicy::audit::spool {

inline constexpr std::size_t kHeaderBytes = 24;
inline constexpr std::size_t kRecordHeaderBytes = 16;
// Larger records are written to the database directly (a decision's reason and factors are
// short; this only bounds what a reader must hold).
inline constexpr std::size_t kMaxPayloadBytes = 256 * 1024;

struct Header {
  std::uint64_t generation = 0;
  std::int64_t first_time_us = 0;
};

std::string encode_header(const Header& header);
std::optional<Header> parse_header(std::string_view bytes);

// The framed record (record header and payload). `record.time_us` must be set.
std::string encode_record(const AuditRecord& record);

// `payload` behind a record header with its length and checksum, as encode_record frames a
// record's fields (the fuzzer frames arbitrary bytes this way to reach the field decoder).
// `tagged` false frames it as an APR1 record, as builds before schema 4 wrote.
std::string frame(std::string_view payload, bool tagged = true);

// The records found in `data` from offset `from` on, in order, and how many bytes did not form a
// record that checks out.
struct Scan {
  std::vector<AuditRecord> records;
  std::size_t record_bytes = 0;  // what the records took, framing included
  std::size_t skipped_bytes = 0;
};
Scan scan_records(std::string_view data, std::size_t from);

}  // namespace authpolicy::audit::spool
