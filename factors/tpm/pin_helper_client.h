// The exit-code protocol of authpolicy-pin-helper and the code that runs it for a non-root caller.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "engine/secret.h"

namespace authpolicy::tpm {

// `pin-helper verify UID` (PIN on stdin), `pin-helper status UID` or `pin-helper enrolled UID`
// (the index's public area only); UID must be the caller's real uid. stdout carries "used=N",
// "limit=N" and "reason=TEXT" lines, nothing secret.
enum class HelperExit : int {
  ok = 0,            // verify: PIN correct; status: enrolled and usable
  wrong = 1,         // verify: wrong PIN (one attempt spent)
  locked = 2,        // the PIN is locked
  not_enrolled = 3,  // no index for this uid
  tampered = 4,      // the index is not what setup makes
  tpm_error = 5,     // TPM or configuration failure
  refused = 6,       // asked about a uid that is not the caller's
  usage = 7,         // bad arguments or unreadable PIN
};

struct HelperOptions {
  std::string path;                      // fixed at build time in production
  std::vector<std::string> environment;  // empty in production; tests pass their TCTI here
  std::chrono::milliseconds timeout{30000};
};

struct HelperReply {
  HelperExit exit = HelperExit::tpm_error;
  std::optional<std::uint32_t> used;
  std::optional<std::uint32_t> limit;
  std::string reason;
};

// Runs the helper with the PIN written to its stdin pipe (never argv or environment) and waits at
// most options.timeout, killing it after. Its reply, or nullopt with *error ("pin helper: …") when
// it cannot be run, gives no answer in time, dies, or exits with a code outside HelperExit.
std::optional<HelperReply> run_pin_helper(const HelperOptions& options, const std::string& mode,
                                          uid_t uid, const SecretString* pin, std::string* error);

// The helper path compiled into this build (AUTHPOLICY_PIN_HELPER_PATH).
const char* built_in_helper_path() noexcept;

}  // namespace authpolicy::tpm
