// Where a user's u2f credentials live and how that file is read (declared in authfile.h). In the
// kits library: the enrolment store (kit_enrolment.cpp) and the provider read the same file the
// same way.
#include <cstddef>

#include "base/file_trust.h"
#include "base/user_lookup.h"
#include "factors/u2f/authfile.h"

namespace authpolicy::u2f {

namespace {
constexpr std::size_t kMaxAuthfileBytes = 1 << 20;
}  // namespace

std::optional<std::string> expand_authfile_path(std::string_view pattern, std::string_view user) {
  std::string path;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      path.push_back(pattern[i]);
      continue;
    }
    if (i + 1 >= pattern.size()) return std::nullopt;
    const char next = pattern[++i];
    if (next == '%') {
      path.push_back('%');
    } else if (next == 'u') {
      if (user.empty() || user == "." || user == ".." || user.find('/') != std::string_view::npos)
        return std::nullopt;
      path.append(user);
    } else {
      return std::nullopt;
    }
  }
  return path;
}

std::variant<std::string, AuthfileReadError> read_authfile(const std::string& path,
                                                           std::optional<uid_t> allowed_owner) {
  using Kind = AuthfileReadError::Kind;
  // The TOTP files' rules (base/file_trust.h): every folder root's or the user's and not
  // writable by group or others; the file not writable by group or others (public keys may be
  // readable). A group member of a 0664 file could otherwise add a key for anyone.
  TrustRules rules;
  if (allowed_owner && *allowed_owner != 0) rules.extra_owners = {*allowed_owner};
  const TrustedFile file = open_trusted(path, rules);
  switch (file.status) {
    case TrustStatus::ok:
      break;
    case TrustStatus::missing:
      return AuthfileReadError{Kind::missing, file.reason};
    case TrustStatus::unsafe:
      return AuthfileReadError{Kind::unsafe, file.reason};
    case TrustStatus::io_error:
      return AuthfileReadError{Kind::unreadable, file.reason};
  }
  std::string problem;
  std::optional<std::string> content = read_trusted(file, kMaxAuthfileBytes, &problem);
  if (!content) return AuthfileReadError{Kind::unreadable, problem};
  return std::move(*content);
}

std::optional<uid_t> uid_of_user(const std::string& user) {
  const UserLookup found = find_user(user);
  if (!found.found()) return std::nullopt;
  return found.account.uid;
}

}  // namespace authpolicy::u2f
