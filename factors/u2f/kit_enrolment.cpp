// How enrolled(u2f) tells a user's enrolment: the authfile the provider reads, through the same
// trust walk, and whether a line in it names the user with at least one credential. It does not
// decode the credentials (that needs libfido2's types): the provider checks them when asked.
#include <string>
#include <string_view>

#include "base/user_lookup.h"
#include "engine/factor_kit.h"
#include "factors/u2f/authfile.h"

namespace authpolicy::u2f {

Enrolment enrolment_of(const Settings& settings, std::string_view user) {
  const std::string pattern = settings.string_or("authfile", "/etc/authpolicy/u2f_keys");
  const auto path = expand_authfile_path(pattern, user);
  if (!path) return {Enrolment::State::unknown, "authfile path: unusable user name or pattern"};
  std::optional<uid_t> owner;
  if (pattern.find("%u") != std::string::npos) {
    const UserLookup found = find_user(user);
    if (found.status == UserLookup::Status::error) {
      return {Enrolment::State::unknown, "user database unavailable"};
    }
    if (found.found()) owner = found.account.uid;
  } else {
    owner = uid_of_user(std::string(user));
  }
  auto content = read_authfile(*path, owner);
  if (const auto* problem = std::get_if<AuthfileReadError>(&content)) {
    if (problem->kind == AuthfileReadError::Kind::missing) {
      return {Enrolment::State::none, "no authfile " + *path};
    }
    return {Enrolment::State::unknown, "authfile " + *path + ": " + problem->message};
  }
  // The last line naming the user counts (as for the provider). A line without "user:" means
  // the file is not an authfile the provider can read: unknown, never "none".
  std::string_view text = std::get<std::string>(content);
  std::optional<std::string_view> credentials;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return {Enrolment::State::unknown, "authfile " + *path + " is malformed"};
    }
    if (line.substr(0, colon) == user) credentials = line.substr(colon + 1);
  }
  if (!credentials || credentials->find_first_not_of(" \t:") == std::string_view::npos) {
    return {Enrolment::State::none, "no credential for the user in " + *path};
  }
  return {Enrolment::State::enrolled, *path};
}

// A per-user authfile (%u in its path) is read when the user owns it and the folders above it
// (read_authfile's allowed owner), as pam_u2f's ~/.config/Yubico/u2f_keys is: such a user can
// delete it. A shared authfile is root's.
std::string self_managed_enrolment(const Settings& settings) {
  const std::string pattern = settings.string_or("authfile", "/etc/authpolicy/u2f_keys");
  if (pattern.find("%u") == std::string::npos) return {};
  return "the per-user authfile " + pattern + ", which may be the user's own";
}

}  // namespace authpolicy::u2f
