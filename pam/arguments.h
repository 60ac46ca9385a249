// Module arguments, the policy path for a service, and which PAM items the module accepts.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace authpolicy::pam_front {

#ifndef AUTHPOLICY_POLICY_DIR
#define AUTHPOLICY_POLICY_DIR "/etc/authpolicy"
#endif

struct ModuleArguments {
  std::optional<std::string> policy;  // policy=PATH
  // shadow=PATH: a candidate policy decided beside the live one on the same request and factor
  // outcomes; its verdict is recorded, never used (docs/audit.md, "Shadow policy").
  std::optional<std::string> shadow;
  bool debug = false;
  bool missing_ignore = false;  // missing=ignore (default missing=fail)
  bool quiet = false;           // quiet: never say why a login was refused
};

// Parses the pam.d arguments. nullopt with `error` naming the argument on anything unknown.
std::optional<ModuleArguments> parse_arguments(int argc, const char** argv, std::string* error);

// The policy file for a service: policy=PATH, else <policy dir>/<service>.pol. nullopt with
// `*error` when the service name could climb out of the folder or is not a plain name.
std::optional<std::string> policy_path_for(const ModuleArguments& arguments,
                                           std::string_view service, std::string* error,
                                           std::string_view policy_dir = AUTHPOLICY_POLICY_DIR);

// Why a PAM_USER cannot be a user name (control characters, '/', ':', "." / "..", over 256
// bytes); nullopt when it can.
std::optional<std::string> refused_user_reason(std::string_view user);

// A value as it may appear in a syslog key=value line: printable, quoted when needed, at most
// `limit` bytes of the original.
std::string log_value(std::string_view value, std::size_t limit = 128);

}  // namespace authpolicy::pam_front
