// Resolving a user's TOTP secret path and its allowed owners (declared in totp_store.h and
// kit_paths.h). In the kits library: the enrolment store and the provider read the same path.
#include "factors/totp/kit_paths.h"

#include <algorithm>

#include "base/user_lookup.h"
#include "factors/totp/totp_limits.h"
#include "factors/totp/totp_store.h"

namespace authpolicy::totp {

std::optional<Account> lookup_account(std::string_view user) {
  const UserLookup found = find_user(user);
  if (!found.found()) return std::nullopt;
  return Account{found.account.uid, found.account.gid, found.account.home};
}

bool user_name_is_safe(std::string_view user) {
  if (user.empty() || user.size() > 256 || user == "." || user == "..") return false;
  return std::none_of(user.begin(), user.end(), [](char c) {
    return c == '/' || c == '%' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
  });
}

std::optional<std::string> secret_path_for(const TotpConfig& config, std::string_view user,
                                           std::string* error) {
  if (!user_name_is_safe(user)) {
    *error = "user name cannot be used in a file name";
    return std::nullopt;
  }
  const bool user_file = pattern_is_user_file(config.secrets);
  if (user_file && !config.allow_user_files) {
    *error = "secrets in the user's home folder are not allowed (allow_user_files)";
    return std::nullopt;
  }
  std::optional<Account> account;
  if (user_file) {
    account = lookup_account(user);
    if (!account || account->home.empty() || account->home.front() != '/') {
      *error = "user has no home folder";
      return std::nullopt;
    }
  }
  std::string_view pattern = config.secrets;
  std::string path;
  if (pattern.starts_with("~/")) {
    path = account->home;
    pattern.remove_prefix(1);
  }
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      path.push_back(pattern[i]);
      continue;
    }
    char next = i + 1 < pattern.size() ? pattern[i + 1] : '\0';
    ++i;
    if (next == 'u') {
      path.append(user);
    } else if (next == 'h') {
      path.append(account->home);
    } else if (next == '%') {
      path.push_back('%');
    } else {
      *error = "secrets pattern has an unknown % escape";
      return std::nullopt;
    }
  }
  if (path.empty() || path.front() != '/') {
    *error = "secrets path is not absolute";
    return std::nullopt;
  }
  return path;
}

std::vector<uid_t> allowed_owners(const TotpConfig& config, std::string_view user) {
  std::vector<uid_t> owners = {0};
  if (config.format == SecretFormat::oath) return owners;
  if (std::optional<Account> account = lookup_account(user)) {
    if (account->uid != 0) owners.push_back(account->uid);
  }
  return owners;
}

}  // namespace authpolicy::totp
