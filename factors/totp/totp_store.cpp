// TOTP enrolment lookup and verification over google-authenticator and pam_oath files.
#include "factors/totp/totp_store.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "base/user_lookup.h"
#include "factors/totp/kit.h"
#include "factors/totp/kit_paths.h"
#include "factors/totp/secret_files.h"
#include "factors/totp/secure_file.h"

namespace authpolicy::totp {

namespace {

// Time steps, attempt times and codes of one verification, for both formats.
struct CodeSearch {
  std::optional<std::uint64_t> matched_step;
  bool hmac_failed = false;
};

CodeSearch find_step(const KeyBytes& key, std::string_view entered, std::uint64_t now_step,
                     int window, int digits, HashAlgorithm algorithm) {
  CodeSearch search;
  // Every candidate is computed and compared, so the time taken does not say which one matched.
  for (int offset = -window; offset <= window; ++offset) {
    if (offset < 0 && now_step < static_cast<std::uint64_t>(-offset)) continue;
    std::uint64_t step = now_step + static_cast<std::int64_t>(offset);
    SecretString expected = hotp_code(key, step, digits, algorithm);
    if (expected.empty()) {
      search.hmac_failed = true;
      return search;
    }
    if (codes_equal(expected.view(), entered) && !search.matched_step) search.matched_step = step;
  }
  return search;
}

// Users type "123 456"; anything but digits and spaces makes the code simply wrong.
SecretString normalise_code(std::string_view raw) {
  std::string digits;
  digits.reserve(raw.size() + 1);
  for (char c : raw) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    digits.push_back(c);
  }
  SecretString code(digits);
  secure_wipe(digits.data(), digits.capacity());
  return code;
}

bool only_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Seconds from `now` until fewer than `attempts` recorded attempts lie within the last `seconds`
// (the rule verify_google applies), i.e. until another attempt is allowed; 0 when one is now.
std::int64_t rate_limit_wait(const GoogleAuthFile::RateLimit& limit, std::int64_t now) {
  const std::int64_t oldest = now - limit.seconds;
  std::vector<std::int64_t> live;
  for (std::int64_t t : limit.attempt_times) {
    if (t > oldest) live.push_back(t);
  }
  if (live.size() < static_cast<std::size_t>(limit.attempts)) return 0;
  std::sort(live.begin(), live.end());
  // The oldest live attempts must leave the window until only attempts - 1 remain.
  const std::int64_t releasing = live[live.size() - static_cast<std::size_t>(limit.attempts)];
  return releasing + limit.seconds - now;
}

int window_from_file(const GoogleAuthFile& file, int fallback) {
  if (!file.window_size) return fallback;
  return (*file.window_size - 1) / 2;
}

Verification verify_google(const TotpConfig& config, SecretFile& file, std::string_view entered,
                           std::int64_t now) {
  std::string error;
  std::optional<GoogleAuthFile> parsed = parse_google_auth_file(file.contents.view(), &error);
  if (!parsed) return {Verdict::malformed, "malformed secret file: " + error};
  GoogleAuthFile& ga = *parsed;
  const HashAlgorithm algorithm = ga.algorithm.value_or(config.algorithm);
  const int digits = ga.digits.value_or(config.digits);
  const std::int64_t step = ga.step_size.value_or(static_cast<int>(config.step));
  const int window = window_from_file(ga, config.window);
  std::optional<std::uint64_t> now_step = time_step(now, step);
  if (!now_step) return {Verdict::error, "clock is before 1970"};

  bool dirty = false;
  std::int64_t wait = 0;
  auto finish = [&](Verification answer) -> Verification {
    answer.rate_limit_wait = wait;
    if (!dirty) return answer;
    if (!file.replace(serialize_google_auth_file(ga).view())) {
      return {Verdict::error, "cannot update the secret file: " + file.detail};
    }
    return answer;
  };

  // RATE_LIMIT counts failed codes only (unlike google-authenticator, which counts every try): a
  // right code after a typo must not use up the attempts sudo's next prompt needs. A right code
  // clears nothing either: earlier failures stay in the window. Replay protection (used steps
  // below) is separate and unchanged.
  if (ga.rate_limit) {
    auto& times = ga.rate_limit->attempt_times;
    const std::int64_t oldest = now - ga.rate_limit->seconds;
    std::size_t before = times.size();
    std::erase_if(times, [&](std::int64_t t) { return t <= oldest; });
    dirty = times.size() != before;
    wait = rate_limit_wait(*ga.rate_limit, now);
    if (wait > 0) return finish({Verdict::rate_limited, "rate limited"});
  }
  // A failed code is recorded; the wait says whether it used the last attempt.
  auto count_failure = [&](Verification answer) -> Verification {
    if (ga.rate_limit) {
      ga.rate_limit->attempt_times.push_back(now);
      dirty = true;
      wait = rate_limit_wait(*ga.rate_limit, now);
    }
    return finish(std::move(answer));
  };

  std::optional<KeyBytes> key = base32_decode(ga.secret_base32.view());
  if (!key) return {Verdict::malformed, "malformed secret file: line 1: secret is not base32"};

  CodeSearch search;
  if (entered.size() == static_cast<std::size_t>(digits) && only_digits(entered)) {
    search = find_step(*key, entered, *now_step, window, digits, algorithm);
  }
  if (search.hmac_failed) return {Verdict::error, "HMAC computation failed"};
  if (search.matched_step) {
    const std::uint64_t matched = *search.matched_step;
    bool replayed = std::any_of(ga.used_steps.begin(), ga.used_steps.end(),
                                [&](std::uint64_t used) { return used >= matched; });
    if (replayed) return count_failure({Verdict::replayed, "replayed code"});
    // Steps that have left the window can never match again; the newest is kept regardless.
    const std::uint64_t window_start =
        *now_step >= static_cast<std::uint64_t>(window) ? *now_step - window : 0;
    std::erase_if(ga.used_steps, [&](std::uint64_t used) { return used < window_start; });
    ga.used_steps.push_back(matched);
    ga.disallow_reuse = true;
    dirty = true;
    return finish({Verdict::accepted, "accepted"});
  }
  if (entered.size() == 8 && only_digits(entered)) {
    std::optional<std::size_t> found;
    for (std::size_t i = 0; i < ga.scratch_codes.size(); ++i) {
      if (codes_equal(ga.scratch_codes[i].view(), entered) && !found) found = i;
    }
    if (found) {
      ga.scratch_codes.erase(ga.scratch_codes.begin() + static_cast<std::ptrdiff_t>(*found));
      dirty = true;
      return finish({Verdict::accepted_scratch, "accepted scratch code"});
    }
  }
  return count_failure({Verdict::wrong_code, "wrong code"});
}

Verification verify_oath(const TotpConfig& config, SecretFile& file, std::string_view user,
                         std::string_view entered, std::int64_t now) {
  OathUsersFile users = split_oath_users_file(file.contents.view());
  OathEntryLookup found = find_oath_entry(users, user);
  switch (found.status) {
    case OathLookup::absent:
      return {Verdict::not_enrolled, "not enrolled"};
    case OathLookup::malformed:
      return {Verdict::malformed, "malformed secret file: " + found.reason};
    case OathLookup::found:
      break;
  }
  OathEntry& entry = found.entry;
  std::optional<std::uint64_t> now_step = time_step(now, entry.step);
  if (!now_step) return {Verdict::error, "clock is before 1970"};
  CodeSearch search;
  if (entered.size() == static_cast<std::size_t>(entry.digits) && only_digits(entered)) {
    search =
        find_step(entry.key, entered, *now_step, config.window, entry.digits, config.algorithm);
  }
  if (search.hmac_failed) return {Verdict::error, "HMAC computation failed"};
  if (!search.matched_step) return {Verdict::wrong_code, "wrong code"};
  if (entry.last_step && *search.matched_step <= *entry.last_step) {
    return {Verdict::replayed, "replayed code"};
  }
  users.lines[entry.line_index] = format_oath_line(
      entry.type, user, entry.pin, entry.hex_secret.view(), search.matched_step, entered, now);
  if (!file.replace(serialize_oath_users_file(users).view())) {
    return {Verdict::error, "cannot update the secret file: " + file.detail};
  }
  return {Verdict::accepted, "accepted"};
}

}  // namespace

std::optional<TotpConfig> config_from_settings(const Settings& settings,
                                               std::vector<std::string>& errors) {
  // One validation for the checker, the module and this provider: the kit's description.
  const std::vector<SettingProblem> problems = validate_settings(totp_kit, settings);
  if (!problems.empty()) {
    for (const auto& problem : problems) errors.push_back(problem.message);
    return std::nullopt;
  }
  TotpConfig config;
  const std::string format = settings.string_or("format", "google-authenticator");
  config.format = format == "oath" ? SecretFormat::oath : SecretFormat::google_authenticator;
  config.secrets = settings.string_or(
      "secrets", config.format == SecretFormat::oath ? std::string(kDefaultOathUsersFile)
                                                     : config.secrets);
  config.algorithm =
      parse_algorithm(settings.string_or("algorithm", "sha1")).value_or(HashAlgorithm::sha1);
  config.digits = static_cast<int>(settings.integer_or("digits", config.digits));
  config.step = settings.duration_or("step", std::chrono::seconds(config.step)).count();
  config.window = static_cast<int>(settings.integer_or("window", config.window));
  config.allow_user_files = settings.boolean_or("allow_user_files", config.allow_user_files);
  config.prompt = settings.string_or("prompt", config.prompt);
  return config;
}

std::string_view verdict_name(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::accepted:
      return "accepted";
    case Verdict::accepted_scratch:
      return "accepted scratch code";
    case Verdict::wrong_code:
      return "wrong code";
    case Verdict::replayed:
      return "replayed code";
    case Verdict::rate_limited:
      return "rate limited";
    case Verdict::not_enrolled:
      return "not enrolled";
    case Verdict::malformed:
      return "malformed secret file";
    case Verdict::error:
      return "error";
  }
  return "error";
}

EnrolmentCheck check_enrolment(const TotpConfig& config, std::string_view user,
                               std::optional<std::int64_t> now) {
  std::string error;
  std::optional<std::string> path = secret_path_for(config, user, &error);
  if (!path) {
    if (pattern_is_user_file(config.secrets) && config.allow_user_files &&
        user_name_is_safe(user) && !lookup_account(user)) {
      return {EnrolmentStatus::not_enrolled, "not enrolled (unknown user)"};
    }
    return {EnrolmentStatus::error, error};
  }
  SecretFile file =
      open_secret_file(*path, allowed_owners(config, user), false, config.lock_timeout);
  switch (file.status) {
    case OpenStatus::missing:
      return {EnrolmentStatus::not_enrolled, "not enrolled"};
    case OpenStatus::ok:
      break;
    default:
      return {EnrolmentStatus::error, file.detail};
  }
  if (config.format == SecretFormat::oath) {
    OathUsersFile users = split_oath_users_file(file.contents.view());
    const OathEntryLookup found = find_oath_entry(users, user);
    switch (found.status) {
      case OathLookup::absent:
        return {EnrolmentStatus::not_enrolled, "not enrolled"};
      case OathLookup::malformed:
        return {EnrolmentStatus::error, "malformed secret file: " + found.reason};
      case OathLookup::found:
        return {EnrolmentStatus::enrolled, *path};
    }
  }
  const std::optional<GoogleAuthFile> parsed = parse_google_auth_file(file.contents.view(), &error);
  if (!parsed) return {EnrolmentStatus::error, "malformed secret file: " + error};
  EnrolmentCheck check{EnrolmentStatus::enrolled, *path};
  if (now && parsed->rate_limit) check.rate_limit_wait = rate_limit_wait(*parsed->rate_limit, *now);
  return check;
}

Verification verify_code(const TotpConfig& config, std::string_view user, std::string_view code,
                         std::int64_t now) {
  std::string error;
  std::optional<std::string> path = secret_path_for(config, user, &error);
  if (!path) return {Verdict::error, error};
  SecretFile file =
      open_secret_file(*path, allowed_owners(config, user), true, config.lock_timeout);
  switch (file.status) {
    case OpenStatus::missing:
      return {Verdict::not_enrolled, "not enrolled"};
    case OpenStatus::ok:
      break;
    default:
      return {Verdict::error, file.detail};
  }
  SecretString entered = normalise_code(code);
  if (config.format == SecretFormat::oath) {
    return verify_oath(config, file, user, entered.view(), now);
  }
  return verify_google(config, file, entered.view(), now);
}

std::optional<SecretString> current_code(const TotpConfig& config, std::string_view user,
                                         std::int64_t now, std::string* error) {
  std::optional<std::string> path = secret_path_for(config, user, error);
  if (!path) return std::nullopt;
  SecretFile file =
      open_secret_file(*path, allowed_owners(config, user), false, config.lock_timeout);
  if (file.status != OpenStatus::ok) {
    *error = file.status == OpenStatus::missing ? "not enrolled" : file.detail;
    return std::nullopt;
  }
  KeyBytes key;
  HashAlgorithm algorithm = config.algorithm;
  int digits = config.digits;
  std::int64_t step = config.step;
  if (config.format == SecretFormat::oath) {
    OathUsersFile users = split_oath_users_file(file.contents.view());
    OathEntryLookup found = find_oath_entry(users, user);
    if (found.status != OathLookup::found) {
      *error = found.status == OathLookup::absent ? "not enrolled" : found.reason;
      return std::nullopt;
    }
    key = std::move(found.entry.key);
    digits = found.entry.digits;
    step = found.entry.step;
  } else {
    std::optional<GoogleAuthFile> ga = parse_google_auth_file(file.contents.view(), error);
    if (!ga) {
      *error = "malformed secret file: " + *error;
      return std::nullopt;
    }
    std::optional<KeyBytes> decoded = base32_decode(ga->secret_base32.view());
    if (!decoded) return std::nullopt;
    key = std::move(*decoded);
    algorithm = ga->algorithm.value_or(algorithm);
    digits = ga->digits.value_or(digits);
    step = ga->step_size.value_or(static_cast<int>(step));
  }
  std::optional<std::uint64_t> counter = time_step(now, step);
  if (!counter) {
    *error = "time is before 1970";
    return std::nullopt;
  }
  SecretString code = hotp_code(key, *counter, digits, algorithm);
  if (code.empty()) {
    *error = "HMAC computation failed";
    return std::nullopt;
  }
  return code;
}

}  // namespace authpolicy::totp
