// `authpolicy u2f enroll|list|remove`: security-key enrolments in pam_u2f authfiles.
#pragma once

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/factor.h"
#include "factors/u2f/device_source.h"

namespace authpolicy::cli {

// Where `enroll` finds keys and how it talks to the person; the registered command uses the
// machine's devices and the terminal, tests pass a software key and a scripted conversation.
struct U2fCommandEnvironment {
  std::shared_ptr<u2f::DeviceSource> devices;  // nullptr: the machine's HID/NFC devices
  Conversation* conversation = nullptr;        // nullptr: the terminal (/dev/tty)
  std::chrono::milliseconds wait_for_key{15000};
};

// Exit codes: 0 done, 1 refused or problems found (malformed lines, no such credential, the key
// said no), 2 usage or system error.
int run_u2f_with(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                 const U2fCommandEnvironment& environment);
int run_u2f(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace authpolicy::cli
