// One decision as one structured key=value syslog line, for fleets that ship syslog already.
#pragma once

#include <string>
#include <string_view>

#include "audit/audit_record.h"

namespace authpolicy::audit {

// e.g. `decision=deny service=sshd user=bob rhost=203.0.113.7 reason="password failed" ...
// factor.password=fail factor.password.detail="wrong password"`.
// Every value comes from the record, which has no field for a secret. Values with anything but
// [A-Za-z0-9._:/@+,-] are double-quoted; '"' and '\' are escaped, and control bytes and bytes
// >= 0x7f become \xHH, so a hostile user or host name cannot forge fields or lines.
std::string format_syslog_line(const AuditRecord& record);

// The quoting rule above for one value (exposed for tests and other writers).
std::string syslog_value(std::string_view value);

}  // namespace authpolicy::audit
