// `authpolicy totp enroll|code|verify`: thin front end over factors/totp.
#include "cli/totp_command.h"

#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <ctime>
#include <iostream>
#include <optional>
#include <string_view>

#include "base/user_lookup.h"
#include "cli/args.h"
#include "cli/command_registry.h"
#include "engine/secret.h"
#include "factors/totp/enrol.h"
#include "factors/totp/totp_store.h"

namespace authpolicy::cli {

namespace {

constexpr std::string_view kUsage =
    "usage: authpolicy totp enroll [USER] [--secrets PATTERN] [--format "
    "google-authenticator|oath]\n"
    "                              [--algorithm sha1|sha256|sha512] [--digits 6|7|8] [--step S]\n"
    "                              [--issuer NAME] [--scratch-codes N] [--no-rate-limit]\n"
    "                              [--no-qr] [--force]\n"
    "       authpolicy totp code USER [--secrets PATTERN] [--format F] [--now UNIXTIME]\n"
    "       authpolicy totp verify USER [--secrets PATTERN] [--format F]   (code on stdin)\n"
    "PATTERN: %u is the user name, ~/ or %h the user's home folder.\n";

struct Options {
  std::string command;
  std::optional<std::string> user;
  std::optional<std::string> secrets;
  std::optional<std::string> format;
  std::optional<std::string> algorithm;
  std::optional<std::string> digits;
  std::optional<std::string> step;
  std::optional<std::string> issuer;
  std::optional<std::string> scratch_codes;
  std::optional<std::string> now;
  bool force = false;
  bool qr = true;
  bool rate_limit = true;
};

bool parse_int(std::string_view text, long long& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// Reads the arguments after "totp" into `options`; an exit code when the command is not to run
// (after --help, or a usage error).
std::optional<int> read_totp_arguments(const std::vector<std::string>& args, std::ostream& out,
                                       std::ostream& err, Options& options) {
  const std::pair<std::string_view, std::optional<std::string> Options::*> valued[] = {
      {"--secrets", &Options::secrets},
      {"--format", &Options::format},
      {"--algorithm", &Options::algorithm},
      {"--digits", &Options::digits},
      {"--step", &Options::step},
      {"--issuer", &Options::issuer},
      {"--scratch-codes", &Options::scratch_codes},
      {"--now", &Options::now}};
  return read_arguments(
      args, {"totp", kUsage, true}, out, err,
      [&](ArgReader& reader) {
        if (reader.is("--force")) {
          options.force = true;
        } else if (reader.is("--no-qr")) {
          options.qr = false;
        } else if (reader.is("--no-rate-limit")) {
          options.rate_limit = false;
        } else {
          for (const auto& [name, member] : valued) {
            if (reader.is(name)) {
              options.*member = reader.value();
              return true;
            }
          }
          return false;
        }
        return true;
      },
      [&](const std::string& word) {
        take_sub_command_or_user(options.command, options.user, word,
                                 {"enroll", "enrol", "code", "verify"});
      },
      [&] {
        if (options.command.empty()) throw UsageError("missing sub-command");
      });
}

// The factor configuration these options describe, checked by the factor's own description
// (factors/totp/kit.cpp) as a policy's settings are. The CLI may always name a home-folder file.
bool make_config(const Options& options, totp::TotpConfig& config, std::string& error) {
  Settings settings;
  settings.set("allow_user_files", true);
  if (options.format) settings.set("format", *options.format);
  if (options.secrets) settings.set("secrets", *options.secrets);
  if (options.algorithm) settings.set("algorithm", *options.algorithm);
  long long number = 0;
  if (options.digits) {
    if (!parse_int(*options.digits, number)) {
      error = "--digits needs a number";
      return false;
    }
    settings.set("digits", std::int64_t{number});
  }
  if (options.step) {
    std::string_view text = *options.step;
    if (text.ends_with("s")) text.remove_suffix(1);
    if (!parse_int(text, number)) {
      error = "--step needs a number of seconds";
      return false;
    }
    settings.set("step", std::chrono::seconds(number));
  }
  std::vector<std::string> problems;
  std::optional<totp::TotpConfig> made = totp::config_from_settings(settings, problems);
  if (!made) {
    error = problems.empty() ? "bad options" : problems.front();
    return false;
  }
  config = std::move(*made);
  return true;
}

std::optional<std::string> invoking_user() {
  const UserLookup found = find_user(geteuid());
  if (!found.found()) return std::nullopt;
  return found.account.name;
}

// Whether the user database (NSS: files, LDAP, SSSD) knows `name`.
bool account_exists(const std::string& name) {
  return find_user(name).found();
}

int run_enroll(const Options& options, std::ostream& out, std::ostream& err) {
  totp::EnrolRequest request;
  std::string error;
  if (!make_config(options, request.config, error)) {
    err << "authpolicy totp: " << error << "\n";
    return kExitTrouble;
  }
  std::optional<std::string> user = options.user ? options.user : invoking_user();
  if (!user) {
    err << "authpolicy totp: cannot tell who you are; name the user\n";
    return kExitTrouble;
  }
  // A secret for a name the system does not know could never be used (the module looks every
  // user up first), and a typo would go unnoticed.
  if (!account_exists(*user)) {
    err << "authpolicy totp: no such user: " << *user << " (nothing written)\n";
    return kExitTrouble;
  }
  request.user = *user;
  request.issuer = options.issuer.value_or("");
  request.force = options.force;
  request.rate_limit = options.rate_limit;
  if (options.scratch_codes) {
    long long count = 0;
    if (!parse_int(*options.scratch_codes, count) || count < 0 || count > 20) {
      err << "authpolicy totp: --scratch-codes must be 0..20\n";
      return kExitTrouble;
    }
    request.scratch_codes = static_cast<int>(count);
  }
  totp::EnrolResult result = totp::enrol_user(request);
  if (result.status == totp::EnrolStatus::already_enrolled) {
    err << "authpolicy totp: " << result.detail << "\n";
    return kExitRefused;
  }
  if (result.status != totp::EnrolStatus::enrolled) {
    err << "authpolicy totp: " << result.detail << "\n";
    return kExitTrouble;
  }
  out << "Enrolled " << request.user << " in " << result.path << "\n\n";
  out << "Add this to an authenticator app (the URI holds the secret; keep it private):\n";
  out << result.uri.view() << "\n\n";
  if (options.qr) {
    SecretString drawing = totp::render_qr_half_blocks(result.uri.view());
    if (drawing.empty()) {
      err << "authpolicy totp: could not draw the QR code; use the URI or the secret\n";
    } else {
      out << drawing.view() << "\n";
    }
  }
  out << "Secret (base32): " << result.secret_base32.view() << "\n";
  if (!result.scratch_codes.empty()) {
    out << "\nScratch codes (each works once, keep them somewhere safe):\n";
    for (const SecretString& code : result.scratch_codes) out << "  " << code.view() << "\n";
  }
  return kExitOk;
}

int run_code(const Options& options, std::ostream& out, std::ostream& err) {
  totp::TotpConfig config;
  std::string error;
  if (!make_config(options, config, error)) {
    err << "authpolicy totp: " << error << "\n";
    return kExitTrouble;
  }
  if (!options.user) {
    err << "authpolicy totp: code needs a USER\n";
    return kExitTrouble;
  }
  long long now = static_cast<long long>(std::time(nullptr));
  if (options.now && !parse_int(*options.now, now)) {
    err << "authpolicy totp: --now must be a unix time in seconds\n";
    return kExitTrouble;
  }
  std::optional<SecretString> code = totp::current_code(config, *options.user, now, &error);
  if (!code) {
    err << "authpolicy totp: " << error << "\n";
    return error == "not enrolled" ? kExitRefused : kExitTrouble;
  }
  out << code->view() << "\n";
  return kExitOk;
}

int run_verify(const Options& options, std::istream& in, std::ostream& out, std::ostream& err) {
  totp::TotpConfig config;
  std::string error;
  if (!make_config(options, config, error)) {
    err << "authpolicy totp: " << error << "\n";
    return kExitTrouble;
  }
  if (!options.user || options.now) {
    err << "authpolicy totp: verify needs a USER (and takes no --now)\n";
    return kExitTrouble;
  }
  std::string line;
  std::getline(in, line);
  SecretString code(line);
  secure_wipe(line.data(), line.capacity());
  totp::Verification result =
      totp::verify_code(config, *options.user, code.view(), std::time(nullptr));
  switch (result.verdict) {
    case totp::Verdict::accepted:
    case totp::Verdict::accepted_scratch:
      out << result.detail << "\n";
      return kExitOk;
    case totp::Verdict::wrong_code:
    case totp::Verdict::replayed:
    case totp::Verdict::rate_limited:
    case totp::Verdict::not_enrolled:
      out << result.detail;
      // As a login says it: the try that used the last attempt, or one refused for the limit.
      if (result.rate_limit_wait > 0) out << " (rate limit: wait " << result.rate_limit_wait << " s)";
      out << "\n";
      return kExitRefused;
    case totp::Verdict::malformed:
    case totp::Verdict::error:
      break;
  }
  err << "authpolicy totp: " << result.detail << "\n";
  return kExitTrouble;
}

}  // namespace

int run_totp_with_input(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                        std::ostream& err) {
  Options options;
  if (auto code = read_totp_arguments(args, out, err, options)) return *code;
  if (options.command == "code") return run_code(options, out, err);
  if (options.command == "verify") return run_verify(options, in, out, err);
  return run_enroll(options, out, err);
}

int run_totp(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return run_totp_with_input(args, std::cin, out, err);
}

namespace {
const RegisterCommand register_totp{"totp", "enrol TOTP users, show and verify codes", run_totp};
}  // namespace

}  // namespace authpolicy::cli
