// One decision as one structured systemd-journald entry (native protocol, written by hand: linking
// libsystemd would cost every login about 0.9M instructions to load it and its libraries).
#pragma once

#include <string>
#include <string_view>

#include "audit/audit_record.h"

namespace authpolicy::audit {

// The socket journald listens on for native entries; `audit { journal }` defaults to it.
inline constexpr const char* kDefaultJournalSocket = "/run/systemd/journal/socket";

// MESSAGE_ID of every decision entry (`journalctl MESSAGE_ID=...`).
inline constexpr const char* kDecisionMessageId = "ffb6b6402a884c488c638c6fcd5905a7";

// The datagram journald reads: MESSAGE (the syslog line's key=value text), MESSAGE_ID, PRIORITY
// (6 permit, 5 deny, as the syslog line), SYSLOG_IDENTIFIER=pam_policy, SYSLOG_FACILITY=10, and
// AUTHPOLICY_* fields with the record's values exactly as stored (docs/fleet.md lists them). A
// value holding a newline is sent in the binary-safe form (name, '\n', 64-bit little-endian
// length, bytes, '\n'), so no value can end its field and start another: a hostile PAM_USER or
// PAM_RHOST stays one field. The record has no field for a secret. `record.time_us` must be set.
std::string encode_journal_entry(const AuditRecord& record);

// Sends the entry to the journald socket at `socket_path` (absolute; "" = do not send). The
// folder holding the socket must pass the trust walk (root-owned up from "/") and the socket must
// be a socket owned by root: a decision is never handed to a listener someone else put there. One
// non-blocking datagram: never waits for journald.
enum class JournalOutcome {
  sent,
  absent,   // no journald there (no socket, a stale one, or "" asked): the syslog line is all
  refused,  // journald is there but did not take the entry, or its socket is not trusted
};
struct JournalDelivery {
  JournalOutcome outcome = JournalOutcome::refused;
  std::string reason;  // refused: why, for the system log; empty otherwise
};
JournalDelivery send_journal_entry(const std::string& socket_path,
                                   const AuditRecord& record) noexcept;

}  // namespace authpolicy::audit
