// authpolicy-pin-helper: setgid-TPM program that checks only its real user's PIN, PIN on stdin.
//
// Trusts nothing from its caller but the PIN bytes: the environment is cleared first, the TPM
// settings come from the system policy (or the built-in default), and a uid argument other than
// the real uid is refused before the TPM is touched, so no user can spend another user's attempts.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "engine/load.h"
#include "factors/tpm/pin_helper_client.h"
#include "factors/tpm/pin_store.h"
#include "factors/tpm/tpm_config.h"

namespace {

using authpolicy::SecretString;
using authpolicy::Settings;
using namespace authpolicy::tpm;

// The `tpm { … }` settings of /etc/authpolicy/common.pol, nullopt when absent.
std::optional<Settings> helper_common_tpm_settings() {
  // The file must be root-owned and safe (the loader checks), so the caller cannot steer us.
  return authpolicy::load_common_settings("tpm");
}

// Makes sure descriptors 0-2 exist so nothing we open later becomes "stdout" by accident.
void ensure_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      const int opened = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
      if (opened != fd) std::_Exit(static_cast<int>(HelperExit::usage));
    }
  }
}

// Reads the PIN from stdin: at most 32 bytes plus one trailing newline.
std::optional<SecretString> read_pin() {
  char buffer[kMaxPinBytes + 2];
  std::size_t used = 0;
  while (used < sizeof buffer) {
    const ssize_t got = ::read(STDIN_FILENO, buffer + used, sizeof buffer - used);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  if (used > 0 && buffer[used - 1] == '\n') --used;
  std::optional<SecretString> pin;
  if (used > 0 && used <= kMaxPinBytes) pin.emplace(std::string_view(buffer, used));
  authpolicy::secure_wipe(buffer, sizeof buffer);
  return pin;
}

std::optional<uid_t> parse_uid(const char* text) {
  std::uint32_t value = 0;
  const char* end = text + std::strlen(text);
  auto [stop, ec] = std::from_chars(text, end, value);
  if (ec != std::errc() || stop != end || value == static_cast<std::uint32_t>(-1)) {
    return std::nullopt;
  }
  return static_cast<uid_t>(value);
}

void print_counter(const std::optional<PinCounter>& counter) {
  if (!counter) return;
  std::printf("used=%u\nlimit=%u\n", counter->used, counter->limit);
}

// Keeps a reason on one line and free of control characters.
void print_reason(const std::string& reason) {
  std::string clean;
  for (char c : reason) clean += (c >= 0x20 && c < 0x7f) ? c : ' ';
  std::printf("reason=%s\n", clean.c_str());
}

int run(int argc, char** argv, const std::string& test_tcti) {
  if (argc != 3) return static_cast<int>(HelperExit::usage);
  const std::string mode = argv[1];
  if (mode != "verify" && mode != "status" && mode != "enrolled") {
    return static_cast<int>(HelperExit::usage);
  }
  const auto asked = parse_uid(argv[2]);
  if (!asked) return static_cast<int>(HelperExit::usage);
  const uid_t caller = ::getuid();
  if (*asked != caller) return static_cast<int>(HelperExit::refused);

  TpmConfig config;
  if (auto settings = helper_common_tpm_settings()) {
    std::string problem;
    auto read = tpm_config_from_settings(*settings, &problem);
    if (!read) {
      print_reason(problem);
      return static_cast<int>(HelperExit::tpm_error);
    }
    config = std::move(*read);
  }
  if (!test_tcti.empty()) config.tcti = test_tcti;
  PinStore store(config);

  if (mode == "enrolled" || mode == "status") {
    // enrolled: the public area only; enrolled(pin) never reads the counter or presents anything.
    const PinStatus status = mode == "status" ? store.status(caller) : store.enrolment(caller);
    switch (status.state) {
      case PinStatus::State::not_enrolled:
        return static_cast<int>(HelperExit::not_enrolled);
      case PinStatus::State::tampered:
        print_reason(status.reason);
        return static_cast<int>(HelperExit::tampered);
      case PinStatus::State::enrolled: {
        print_counter(status.counter);
        const bool locked = status.counter && status.counter->locked();
        return static_cast<int>(locked ? HelperExit::locked : HelperExit::ok);
      }
      case PinStatus::State::invalid_request:
      case PinStatus::State::config_error:
      case PinStatus::State::tpm_error:
        print_reason(status.reason);
        return static_cast<int>(HelperExit::tpm_error);
    }
    return static_cast<int>(HelperExit::tpm_error);
  }

  std::optional<SecretString> pin = read_pin();
  if (!pin) return static_cast<int>(HelperExit::usage);
  const VerifyOutcome outcome = store.verify(caller, *pin);
  pin->wipe();
  print_counter(outcome.counter);
  switch (outcome.result) {
    case VerifyResult::correct:
      return static_cast<int>(HelperExit::ok);
    case VerifyResult::wrong:
      return static_cast<int>(HelperExit::wrong);
    case VerifyResult::locked:
      return static_cast<int>(HelperExit::locked);
    case VerifyResult::not_enrolled:
      return static_cast<int>(HelperExit::not_enrolled);
    case VerifyResult::tampered:
      print_reason(outcome.reason);
      return static_cast<int>(HelperExit::tampered);
    case VerifyResult::invalid_request:
    case VerifyResult::config_error:
    case VerifyResult::tpm_error:
      print_reason(outcome.reason);
      return static_cast<int>(HelperExit::tpm_error);
  }
  return static_cast<int>(HelperExit::tpm_error);
}

}  // namespace

int main(int argc, char** argv) {
  std::string test_tcti;
#ifdef AUTHPOLICY_PIN_HELPER_TEST_VARIANT
  // Test build only (never installed): the TCTI of the test's swtpm. Refused in a process with
  // any set-id privilege, so even a wrongly installed test variant cannot be pointed elsewhere.
  if (const char* tcti = std::getenv("AUTHPOLICY_TEST_TCTI")) {
    if (::getuid() != ::geteuid() || ::getgid() != ::getegid()) {
      // _Exit: nothing to flush yet, and a sanitizer's exit hooks cannot run set-id anyway.
      std::_Exit(static_cast<int>(HelperExit::usage));
    }
    test_tcti = tcti;
  }
#endif
  // Nothing from the caller's environment may steer the TSS (TSS2_LOGFILE, TCTI defaults…).
  ::clearenv();
  ::setenv("TSS2_LOG", "all+NONE", 1);
  ::umask(077);
  ensure_standard_descriptors();
  int code;
  try {
    code = run(argc, argv, test_tcti);
  } catch (const std::exception& e) {
    // The program's edge: what run() uses answers with values, so only running out of memory
    // (std::bad_alloc) can arrive here, and it is a failure to answer like any other.
    print_reason(e.what());
    code = static_cast<int>(HelperExit::tpm_error);
  }
  std::fflush(stdout);
  return code;
}
