// Status names and the best-effort/required rule for failed audit writes.
#include "audit/audit_status.h"

namespace authpolicy::audit {

std::string_view to_string(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::ok:
      return "ok";
    case StatusCode::busy:
      return "busy";
    case StatusCode::read_only:
      return "read_only";
    case StatusCode::corrupt:
      return "corrupt";
    case StatusCode::full:
      return "full";
    case StatusCode::cannot_open:
      return "cannot_open";
    case StatusCode::unsafe_file:
      return "unsafe_file";
    case StatusCode::schema_too_new:
      return "schema_too_new";
    case StatusCode::invalid_argument:
      return "invalid_argument";
    case StatusCode::io_error:
      return "io_error";
  }
  return "unknown";
}

AfterWrite after_write(const Status& write_status, bool required) noexcept {
  if (write_status.ok()) return AfterWrite::keep_decision;
  return required ? AfterWrite::deny_and_warn : AfterWrite::keep_decision_and_warn;
}

std::string write_failure_line(const Status& write_status, bool required) {
  std::string line = required ? "audit write failed (audit required, decision becomes deny): "
                              : "audit write failed (best effort, decision stands): ";
  line += write_status.message.empty() ? std::string("unknown error") : write_status.message;
  line += " [";
  line += to_string(write_status.code);
  line += "]";
  return line;
}

}  // namespace authpolicy::audit
