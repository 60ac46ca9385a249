// How enrolled(totp) tells a user's enrolment: the secret file the provider would open, looked
// at (never locked, never changed) through the same trust walk; for a pam_oath users file, the
// user's line in it.
#include <cstring>
#include <string>

#include "base/file_trust.h"
#include "base/user_lookup.h"
#include "engine/secret.h"
#include "factors/totp/kit.h"
#include "factors/totp/kit_paths.h"
#include "factors/totp/totp_limits.h"
#include "factors/totp/totp_store.h"

namespace authpolicy::totp {

namespace {

// The settings the path depends on, as config_from_settings reads them.
TotpConfig path_config(const Settings& settings) {
  TotpConfig config;
  const bool oath = settings.string_or("format", "google-authenticator") == "oath";
  config.format = oath ? SecretFormat::oath : SecretFormat::google_authenticator;
  config.secrets =
      settings.string_or("secrets", oath ? std::string(kDefaultOathUsersFile) : config.secrets);
  config.allow_user_files = settings.boolean_or("allow_user_files", false);
  return config;
}

// Whether a pam_oath users file has a line whose second field is `user` (the provider then reads
// that line in full). Comment lines start with '#'.
bool oath_file_names(std::string_view text, std::string_view user) {
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    auto skip_blanks = [&line] {
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    };
    skip_blanks();
    if (line.empty() || line.front() == '#') continue;
    const auto type_end = line.find_first_of(" \t");
    if (type_end == std::string_view::npos) continue;
    line.remove_prefix(type_end);
    skip_blanks();
    const std::string_view name = line.substr(0, line.find_first_of(" \t\r"));
    if (name == user) return true;
  }
  return false;
}

}  // namespace

Enrolment enrolment_of(const Settings& settings, std::string_view user) {
  const TotpConfig config = path_config(settings);
  if (!user_name_is_safe(user)) {
    return {Enrolment::State::unknown, "user name cannot be used in a file name"};
  }
  if (pattern_is_user_file(config.secrets) && config.allow_user_files) {
    const UserLookup found = find_user(user);
    if (found.status == UserLookup::Status::error) {
      return {Enrolment::State::unknown, "user database unavailable"};
    }
    if (!found.found()) return {Enrolment::State::none, "unknown user"};
  }
  std::string problem;
  const std::optional<std::string> path = secret_path_for(config, user, &problem);
  if (!path) return {Enrolment::State::unknown, problem};
  TrustRules rules;
  for (uid_t owner : allowed_owners(config, user)) {
    if (owner != 0) rules.extra_owners.push_back(owner);
  }
  rules.forbidden_file_bits = 077;
  rules.final_symlink = false;
  const TrustedFile file = open_trusted(*path, rules);
  switch (file.status) {
    case TrustStatus::missing: return {Enrolment::State::none, "no secret file " + *path};
    case TrustStatus::ok: break;
    case TrustStatus::unsafe:
    case TrustStatus::io_error:
      return {Enrolment::State::unknown,
              file.reason.empty() ? "secret file " + *path + " cannot be read" : file.reason};
  }
  if (file.info.st_nlink != 1) {
    return {Enrolment::State::unknown, "secret file " + *path + " has more than one link"};
  }
  if (config.format != SecretFormat::oath) return {Enrolment::State::enrolled, *path};
  std::optional<std::string> text = read_trusted(file, 1 << 20, &problem);
  if (!text) return {Enrolment::State::unknown, "secret file " + *path + ": " + problem};
  const bool named = oath_file_names(*text, user);
  secure_wipe(text->data(), text->size());  // other users' secrets
  if (!named) return {Enrolment::State::none, "no line for the user in " + *path};
  return {Enrolment::State::enrolled, *path};
}

std::string self_managed_enrolment(const Settings& settings) {
  const TotpConfig config = path_config(settings);
  if (!config.allow_user_files || !pattern_is_user_file(config.secrets)) return {};
  return "the secret file " + config.secrets + " in the user's home folder";
}

}  // namespace authpolicy::totp
