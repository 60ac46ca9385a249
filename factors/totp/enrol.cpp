// TOTP enrolment: secret and scratch codes from getrandom, the file written atomically, the URI.
#include "factors/totp/enrol.h"

#include <pwd.h>
#include <unistd.h>

#include "base/user_lookup.h"
#include "factors/totp/secret_files.h"
#include "factors/totp/secure_file.h"

namespace authpolicy::totp {

namespace {

constexpr std::size_t kSecretBytes = 20;  // 160 bits, RFC 4226's recommendation

// A uniformly random 8-digit scratch code (10000000..99999999), by rejection sampling.
bool random_scratch_code(SecretString& code) {
  std::uint32_t value = 0;
  constexpr std::uint32_t kRange = 90000000;
  constexpr std::uint32_t kLimit = 0xffffffffu - (0xffffffffu % kRange);
  do {
    if (!os_random_bytes(reinterpret_cast<unsigned char*>(&value), sizeof value)) return false;
  } while (value >= kLimit);
  std::string text = std::to_string(10000000 + value % kRange);
  code.assign(text);
  secure_wipe(text.data(), text.capacity());
  secure_wipe(&value, sizeof value);
  return true;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || c == '@') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string host_name() {
  char name[256] = "";
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "authpolicy";
  return name;
}

EnrolResult enrol_oath(const EnrolRequest& request, EnrolResult result,
                       const std::string& hex_secret_text) {
  if (request.config.algorithm != HashAlgorithm::sha1) {
    result.detail = "the oath users file cannot record the algorithm; use sha1";
    return result;
  }
  const std::string type =
      "HOTP/T" + std::to_string(request.config.step) + "/" + std::to_string(request.config.digits);
  SecretString line =
      format_oath_line(type, request.user, "-", hex_secret_text, std::nullopt, "", 0);
  SecretFile file = open_secret_file(result.path, {0}, true, request.config.lock_timeout);
  if (file.status == OpenStatus::missing) {
    std::string text(line.view());
    text.push_back('\n');
    const WriteResult created = create_secret_file(result.path, text, geteuid(), getegid(), false);
    secure_wipe(text.data(), text.capacity());
    if (created.status == WriteStatus::exists) {
      result.status = EnrolStatus::error;
      result.detail = result.path + " appeared while enrolling; try again";
      return result;
    }
    if (!created.ok()) {
      result.detail = created.reason;
      return result;
    }
    result.status = EnrolStatus::enrolled;
    return result;
  }
  if (file.status != OpenStatus::ok) {
    result.detail = file.detail;
    return result;
  }
  OathUsersFile users = split_oath_users_file(file.contents.view());
  const OathEntryLookup found = find_oath_entry(users, request.user);
  if (found.status != OathLookup::absent && !request.force) {
    result.status = EnrolStatus::already_enrolled;
    result.detail = request.user + " is already enrolled in " + result.path + " (use --force)";
    return result;
  }
  if (found.status == OathLookup::absent) {
    users.lines.push_back(std::move(line));
  } else {
    users.lines[found.entry.line_index] = std::move(line);
  }
  if (!file.replace(serialize_oath_users_file(users).view())) {
    result.detail = file.detail;
    return result;
  }
  result.status = EnrolStatus::enrolled;
  return result;
}

}  // namespace

SecretString otpauth_uri(std::string_view issuer, std::string_view user,
                         std::string_view secret_base32, HashAlgorithm algorithm, int digits,
                         std::int64_t step) {
  std::string uri =
      "otpauth://totp/" + percent_encode(issuer) + ":" + percent_encode(user) + "?secret=";
  uri.reserve(uri.size() + secret_base32.size() + issuer.size() * 3 + 80);
  uri.append(secret_base32);
  uri += "&issuer=" + percent_encode(issuer) +
         "&algorithm=" + std::string(algorithm_name(algorithm)) +
         "&digits=" + std::to_string(digits) + "&period=" + std::to_string(step);
  SecretString result(uri);
  secure_wipe(uri.data(), uri.capacity());
  return result;
}

EnrolResult enrol_user(const EnrolRequest& request) {
  EnrolResult result;
  std::string error;
  std::optional<std::string> path = secret_path_for(request.config, request.user, &error);
  if (!path) {
    result.detail = error;
    return result;
  }
  result.path = *path;
  const TotpConfig& config = request.config;
  if (config.digits < kMinDigits || config.digits > kMaxDigits || config.step < kMinStepSeconds ||
      config.step > kMaxStepSeconds || request.scratch_codes < 0 || request.scratch_codes > 20) {
    result.detail = "digits must be 6..8, step 1..300 s, scratch codes 0..20";
    return result;
  }

  KeyBytes key(kSecretBytes);
  if (!os_random_bytes(key.data(), key.size())) {
    result.detail = "the OS random number generator failed";
    return result;
  }
  result.secret_base32 = base32_encode(key.data(), key.size());
  std::string issuer = request.issuer.empty() ? host_name() : request.issuer;
  result.uri = otpauth_uri(issuer, request.user, result.secret_base32.view(), config.algorithm,
                           config.digits, config.step);

  if (config.format == SecretFormat::oath) {
    SecretString hex = hex_encode(key.data(), key.size());
    return enrol_oath(request, std::move(result), std::string(hex.view()));
  }

  GoogleAuthFile file;
  file.secret_base32 = result.secret_base32.clone();
  file.totp_auth = true;
  file.disallow_reuse = true;
  if (request.rate_limit) file.rate_limit = GoogleAuthFile::RateLimit{3, 30, {}};
  if (config.step != 30) file.step_size = static_cast<int>(config.step);
  if (config.algorithm != HashAlgorithm::sha1) file.algorithm = config.algorithm;
  if (config.digits != 6) file.digits = config.digits;
  for (int i = 0; i < request.scratch_codes; ++i) {
    SecretString code;
    if (!random_scratch_code(code)) {
      result.detail = "the OS random number generator failed";
      return result;
    }
    file.scratch_codes.push_back(code.clone());
    result.scratch_codes.push_back(std::move(code));
  }

  // A file in the user's home belongs to the user; one under a system folder to whoever runs
  // the enrolment (root, normally).
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (pattern_is_user_file(config.secrets)) {
    const UserLookup account = find_user(request.user);
    if (!account.found()) {
      result.detail = account.reason.empty() ? "unknown user " + request.user : account.reason;
      return result;
    }
    uid = account.account.uid;
    gid = account.account.gid;
  }
  const WriteResult created = create_secret_file(
      result.path, serialize_google_auth_file(file).view(), uid, gid, request.force);
  if (!created.ok()) {
    result.detail = created.reason;
    if (created.status == WriteStatus::exists) {
      result.status = EnrolStatus::already_enrolled;
      result.detail =
          request.user + " is already enrolled: " + result.path + " exists (use --force)";
    }
    return result;
  }
  result.status = EnrolStatus::enrolled;
  return result;
}

}  // namespace authpolicy::totp
