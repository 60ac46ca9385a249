// Module arguments and the checks on names that come from the application.
#include "pam/arguments.h"

#include <cstdio>

namespace authpolicy::pam_front {
namespace {

constexpr std::size_t kMaxUserName = 256;  // LOGIN_NAME_MAX on Linux
constexpr std::size_t kMaxServiceName = 255;

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

}  // namespace

std::optional<ModuleArguments> parse_arguments(int argc, const char** argv, std::string* error) {
  ModuleArguments out;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i] ? argv[i] : "";
    if (arg == "debug") {
      out.debug = true;
    } else if (arg.starts_with("policy=") && arg.size() > 7) {
      out.policy = std::string(arg.substr(7));
    } else if (arg.starts_with("shadow=") && arg.size() > 7) {
      out.shadow = std::string(arg.substr(7));
    } else if (arg == "quiet") {
      out.quiet = true;
    } else if (arg == "missing=fail") {
      out.missing_ignore = false;
    } else if (arg == "missing=ignore") {
      out.missing_ignore = true;
    } else {
      if (error) *error = "unknown module argument " + log_value(arg, 64);
      return std::nullopt;
    }
  }
  return out;
}

std::optional<std::string> policy_path_for(const ModuleArguments& arguments,
                                           std::string_view service, std::string* error,
                                           std::string_view policy_dir) {
  if (arguments.policy) return *arguments.policy;
  auto refuse = [&](const char* why) -> std::optional<std::string> {
    if (error) *error = "service name " + log_value(service, 64) + " refused: " + why;
    return std::nullopt;
  };
  if (service.empty()) return refuse("empty");
  if (service.size() > kMaxServiceName) return refuse("too long");
  if (service.find('/') != std::string_view::npos) return refuse("contains '/'");
  if (service.front() == '.') return refuse("starts with '.'");
  for (unsigned char c : service) {
    if (is_control(c)) return refuse("contains a control character");
  }
  return std::string(policy_dir) + "/" + std::string(service) + ".pol";
}

std::optional<std::string> refused_user_reason(std::string_view user) {
  if (user.empty()) return "empty user name";
  if (user.size() > kMaxUserName) return "user name longer than 256 bytes";
  if (user == "." || user == "..") return "user name is . or ..";
  for (unsigned char c : user) {
    if (is_control(c)) return "user name contains a control character";
    if (c == '/') return "user name contains '/'";
    if (c == ':') return "user name contains ':'";
  }
  return std::nullopt;
}

std::string log_value(std::string_view value, std::size_t limit) {
  const bool truncated = value.size() > limit;
  if (truncated) value = value.substr(0, limit);
  bool quote = value.empty();
  std::string body;
  body.reserve(value.size() + 8);
  for (unsigned char c : value) {
    if (is_control(c) || c >= 0x80 || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      body += buf;
      continue;
    }
    if (c == '"') {
      body += "\\\"";
      quote = true;
      continue;
    }
    if (c == ' ' || c == '=') quote = true;
    body.push_back(static_cast<char>(c));
  }
  if (truncated) body += "...";
  return quote ? "\"" + body + "\"" : body;
}

}  // namespace authpolicy::pam_front
