// Parsing and writing google-authenticator files and pam_oath users files, strictly.
#include "factors/totp/secret_files.h"

#include <algorithm>
#include <charconv>
#include <ctime>

namespace authpolicy::totp {

namespace {

// Splits text into lines; a final newline does not make an extra empty line; '\r' is dropped.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

template <typename Int>
bool parse_number(std::string_view text, Int& value) {
  if (text.empty()) return false;
  bool negative_allowed = std::is_signed_v<Int>;
  if (text[0] == '-' && !negative_allowed) return false;
  if (text[0] == '+') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string line_error(std::size_t index, std::string_view message) {
  return "line " + std::to_string(index + 1) + ": " + std::string(message);
}

// Applies one `" NAME args` line to file; why not when it is not acceptable, else nullopt.
std::optional<std::string> parse_option(const std::vector<std::string_view>& words,
                                        std::string_view raw, GoogleAuthFile& file,
                                        std::vector<std::string>& seen) {
  if (words.empty()) {
    return "empty option line";
  }
  std::string name(words[0]);
  if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
    return "option " + name + " repeated";
  }
  seen.push_back(name);
  std::size_t args = words.size() - 1;
  if (name == "TOTP_AUTH") {
    if (args != 0) {
      return "TOTP_AUTH takes no value";
    }
    file.totp_auth = true;
    return std::nullopt;
  }
  if (name == "HOTP_COUNTER") {
    return "counter-based HOTP (HOTP_COUNTER) is not supported";
  }
  if (name == "WINDOW_SIZE" || name == "STEP_SIZE" || name == "DIGITS") {
    int value = 0;
    if (args != 1 || !parse_number(words[1], value)) {
      return name + " needs one number";
    }
    if (name == "WINDOW_SIZE") {
      if (value < 1 || value > 21) {
        return "WINDOW_SIZE must be 1..21";
      }
      file.window_size = value;
    } else if (name == "STEP_SIZE") {
      if (value < 1 || value > 300) {
        return "STEP_SIZE must be 1..300";
      }
      file.step_size = value;
    } else {
      if (value < kMinDigits || value > kMaxDigits) {
        return "DIGITS must be 6..8";
      }
      file.digits = value;
    }
    return std::nullopt;
  }
  if (name == "ALGORITHM") {
    std::optional<HashAlgorithm> algorithm;
    if (args == 1) algorithm = parse_algorithm(words[1]);
    if (!algorithm) {
      return "ALGORITHM must be SHA1, SHA256 or SHA512";
    }
    file.algorithm = algorithm;
    return std::nullopt;
  }
  if (name == "DISALLOW_REUSE") {
    file.disallow_reuse = true;
    for (std::size_t i = 1; i < words.size(); ++i) {
      std::uint64_t step = 0;
      if (!parse_number(words[i], step)) {
        return "DISALLOW_REUSE lists time steps (numbers)";
      }
      file.used_steps.push_back(step);
    }
    return std::nullopt;
  }
  if (name == "RATE_LIMIT") {
    GoogleAuthFile::RateLimit limit;
    if (args < 2 || !parse_number(words[1], limit.attempts) ||
        !parse_number(words[2], limit.seconds) || limit.attempts < 1 || limit.attempts > 100 ||
        limit.seconds < 1 || limit.seconds > 3600) {
      return "RATE_LIMIT needs attempts (1..100) and seconds (1..3600)";
    }
    for (std::size_t i = 3; i < words.size(); ++i) {
      std::int64_t when = 0;
      if (!parse_number(words[i], when) || when < 0) {
        return "RATE_LIMIT lists attempt times (numbers)";
      }
      limit.attempt_times.push_back(when);
    }
    file.rate_limit = std::move(limit);
    return std::nullopt;
  }
  if (name == "TIME_SKEW" || name == "RESETTING_TIME_SKEW") {
    // Written by google-authenticator's skew detection, which authpolicy does not do: kept so the
    // file still works with pam_google_authenticator, otherwise ignored.
    file.kept_options.emplace_back(raw);
    return std::nullopt;
  }
  return "unknown option " + name;
}

void append_number_list(std::string& out, const auto& numbers) {
  for (auto n : numbers) {
    out.push_back(' ');
    out += std::to_string(n);
  }
}

}  // namespace

std::optional<GoogleAuthFile> parse_google_auth_file(std::string_view text, std::string* error) {
  std::vector<std::string_view> lines = split_lines(text);
  if (lines.empty() || lines[0].empty()) {
    *error = "line 1: no secret";
    return std::nullopt;
  }
  GoogleAuthFile file;
  {
    std::optional<KeyBytes> key = base32_decode(lines[0]);
    if (!key) {
      *error = "line 1: secret is not base32";
      return std::nullopt;
    }
    if (key->size() < kMinKeyBytes) {
      *error = "line 1: secret shorter than 80 bits";
      return std::nullopt;
    }
    file.secret_base32.assign(lines[0]);
  }
  std::vector<std::string> seen;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.empty()) continue;
    if (line[0] == '"') {
      if (auto refused = parse_option(split_words(line.substr(1)), line, file, seen)) {
        *error = line_error(i, *refused);
        return std::nullopt;
      }
      continue;
    }
    if (line.size() == 8 && all_digits(line)) {
      file.scratch_codes.emplace_back(line);
      continue;
    }
    *error = line_error(i, "neither an option nor an 8-digit scratch code");
    return std::nullopt;
  }
  return file;
}

SecretString serialize_google_auth_file(const GoogleAuthFile& file) {
  std::string out;
  std::size_t kept_size = 0;
  for (const std::string& kept : file.kept_options) kept_size += kept.size() + 1;
  out.reserve(256 + kept_size + file.secret_base32.size() + 9 * file.scratch_codes.size() +
              21 * (file.used_steps.size() +
                    (file.rate_limit ? file.rate_limit->attempt_times.size() : 0)));
  out.append(file.secret_base32.view());
  out.push_back('\n');
  if (file.rate_limit) {
    out += "\" RATE_LIMIT " + std::to_string(file.rate_limit->attempts) + " " +
           std::to_string(file.rate_limit->seconds);
    append_number_list(out, file.rate_limit->attempt_times);
    out.push_back('\n');
  }
  if (file.window_size) out += "\" WINDOW_SIZE " + std::to_string(*file.window_size) + "\n";
  if (file.disallow_reuse) {
    out += "\" DISALLOW_REUSE";
    append_number_list(out, file.used_steps);
    out.push_back('\n');
  }
  if (file.totp_auth) out += "\" TOTP_AUTH\n";
  if (file.step_size) out += "\" STEP_SIZE " + std::to_string(*file.step_size) + "\n";
  if (file.algorithm) {
    out += "\" ALGORITHM ";
    out += algorithm_name(*file.algorithm);
    out.push_back('\n');
  }
  if (file.digits) out += "\" DIGITS " + std::to_string(*file.digits) + "\n";
  for (const std::string& kept : file.kept_options) out += kept + "\n";
  for (const SecretString& code : file.scratch_codes) {
    out.append(code.view());
    out.push_back('\n');
  }
  SecretString text(out);
  secure_wipe(out.data(), out.capacity());
  return text;
}

OathUsersFile split_oath_users_file(std::string_view text) {
  OathUsersFile file;
  for (std::string_view line : split_lines(text)) file.lines.emplace_back(line);
  return file;
}

std::optional<OathType> parse_oath_type(std::string_view type, std::string* error) {
  auto fail = [&](const char* why) -> std::optional<OathType> {
    if (error) *error = why;
    return std::nullopt;
  };
  OathType parsed;
  parsed.digits = 6;
  if (type == "HOTP" || type.starts_with("HOTP/E")) {
    return fail("event-based HOTP is not supported (use HOTP/T30)");
  }
  if (!type.starts_with("HOTP/T")) return fail("token type must be HOTP/T<step>[/<digits>]");
  std::string_view rest = type.substr(6);
  std::string_view step_text = rest.substr(0, rest.find('/'));
  if (!parse_number(step_text, parsed.step) || parsed.step < 1 || parsed.step > 300) {
    return fail("time step in the token type must be 1..300");
  }
  if (step_text.size() == rest.size()) return parsed;
  std::string_view digits_text = rest.substr(step_text.size() + 1);
  if (!parse_number(digits_text, parsed.digits) || parsed.digits < kMinDigits ||
      parsed.digits > kMaxDigits) {
    return fail("digits in the token type must be 6..8");
  }
  return parsed;
}

OathEntryLookup find_oath_entry(const OathUsersFile& file, std::string_view user) {
  OathEntryLookup result;
  OathEntry& entry = result.entry;
  auto malformed = [&](std::string reason) {
    result.status = OathLookup::malformed;
    result.reason = std::move(reason);
    return std::move(result);
  };
  for (std::size_t i = 0; i < file.lines.size(); ++i) {
    std::string_view line = file.lines[i].view();
    std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    std::vector<std::string_view> words = split_words(line);
    if (words.size() < 2 || words[1] != user) continue;
    if (words.size() < 4 || words.size() > 7) {
      return malformed(line_error(i, "expected TYPE USER PIN SECRET [STEP [OTP [TIME]]]"));
    }
    std::string message;
    const std::optional<OathType> type = parse_oath_type(words[0], &message);
    if (!type) {
      return malformed(line_error(i, message));
    }
    entry.step = type->step;
    entry.digits = type->digits;
    if (words[2] != "-") {
      return malformed(line_error(i, "a PIN in the users file is not supported (use \"-\")"));
    }
    std::optional<KeyBytes> key = hex_decode(words[3]);
    if (!key) {
      return malformed(line_error(i, "secret is not hex"));
    }
    if (key->size() < kMinKeyBytes) {
      return malformed(line_error(i, "secret shorter than 80 bits"));
    }
    entry.last_step.reset();
    if (words.size() >= 5) {
      std::uint64_t last = 0;
      if (!parse_number(words[4], last)) {
        return malformed(line_error(i, "last time step is not a number"));
      }
      entry.last_step = last;
    }
    entry.line_index = i;
    entry.type = std::string(words[0]);
    entry.pin = std::string(words[2]);
    entry.key = std::move(*key);
    entry.hex_secret.assign(words[3]);
    result.status = OathLookup::found;
    return result;
  }
  return result;
}

SecretString format_oath_line(std::string_view type, std::string_view user, std::string_view pin,
                              std::string_view hex_secret, std::optional<std::uint64_t> last_step,
                              std::string_view last_code, std::int64_t last_time) {
  std::string out;
  out.reserve(type.size() + user.size() + pin.size() + hex_secret.size() + 80);
  out.append(type).append(" ").append(user).append(" ").append(pin).append(" ").append(hex_secret);
  if (last_step) {
    out += " " + std::to_string(*last_step);
    if (!last_code.empty()) {
      // liboath's layout: moving factor, last OTP, and the time in local time with an 'L'.
      std::time_t when = static_cast<std::time_t>(last_time);
      std::tm local{};
      char stamp[32] = "";
      if (localtime_r(&when, &local) != nullptr) {
        std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SL", &local);
      }
      out.append(" ").append(last_code).append(" ").append(stamp);
    }
  }
  SecretString line(out);
  secure_wipe(out.data(), out.capacity());
  return line;
}

SecretString serialize_oath_users_file(const OathUsersFile& file) {
  std::size_t size = 0;
  for (const SecretString& line : file.lines) size += line.size() + 1;
  std::string out;
  out.reserve(size + 1);
  for (const SecretString& line : file.lines) {
    out.append(line.view());
    out.push_back('\n');
  }
  SecretString text(out);
  secure_wipe(out.data(), out.capacity());
  return text;
}

}  // namespace authpolicy::totp
