// Reading SSH_AUTH_INFO_0 strictly: anything sshd would not have written is unknown, never a guess.
#include "engine/ssh_auth.h"

#include <iterator>

namespace authpolicy {
namespace {

// sshd's own values stay far below this (an RSA-16384 certificate per line, a few lines): more is
// not sshd's doing.
constexpr std::size_t kMaxInfo = 64 * 1024;

// A method name as sshd spells them: lower-case letters, digits, '-', '@' and '.'.
bool method_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '@' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::optional<unsigned> ssh_method_bit(std::string_view method) {
  for (std::size_t i = 0; i < std::size(kSshMethods); ++i) {
    if (kSshMethods[i] == method) return 1u << i;
  }
  return std::nullopt;
}

std::string ssh_method_list(unsigned mask) {
  std::string out;
  for (std::size_t i = 0; i < std::size(kSshMethods); ++i) {
    if (!(mask & (1u << i))) continue;
    if (!out.empty()) out += ", ";
    out += kSshMethods[i];
  }
  return out;
}

std::optional<unsigned> parse_ssh_auth_info(std::string_view value, std::string* problem) {
  const auto refuse = [&](std::string why) -> std::optional<unsigned> {
    if (problem) *problem = "SSH_AUTH_INFO_0 " + std::move(why);
    return std::nullopt;
  };
  if (value.size() > kMaxInfo) return refuse("is longer than sshd writes");
  if (!value.empty() && value.back() != '\n') {
    return refuse("does not end its last line (sshd ends every line with a newline)");
  }
  unsigned mask = 0;
  std::size_t line_number = 0;
  while (!value.empty()) {
    ++line_number;
    const std::size_t end = value.find('\n');
    const std::string_view line = value.substr(0, end);
    value.remove_prefix(end + 1);
    for (const char c : line) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return refuse("line " + std::to_string(line_number) + " holds a control character");
      }
    }
    std::string_view method = line.substr(0, line.find(' '));
    const std::size_t slash = method.find('/');
    if (slash != std::string_view::npos) {
      if (!method_name(method.substr(slash + 1))) {
        return refuse("line " + std::to_string(line_number) + " has no valid submethod");
      }
      method = method.substr(0, slash);
    }
    if (!method_name(method)) {
      return refuse("line " + std::to_string(line_number) + " does not start with a method name");
    }
    if (const auto bit = ssh_method_bit(method)) mask |= *bit;
  }
  return mask;
}

std::string ssh_auth_info_for(unsigned mask) {
  std::string out;
  for (std::size_t i = 0; i < std::size(kSshMethods); ++i) {
    if (mask & (1u << i)) out.append(kSshMethods[i]).push_back('\n');
  }
  return out;
}

}  // namespace authpolicy
