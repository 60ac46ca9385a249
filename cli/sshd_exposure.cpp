// What in sshd's running configuration lets a login past pam_policy.so, method list by method list.
#include "cli/sshd_exposure.h"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include "cli/pam_stack.h"
#include "engine/analysis.h"

namespace authpolicy::cli {
namespace {

std::string lowered(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Runs `argv` without a shell; returns its standard output when it exits 0, else nullopt with
// `why` saying how it ended. stdin and stderr are /dev/null.
std::optional<std::string> run_capturing(const std::vector<std::string>& argv, std::string& why) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    why = std::string("pipe: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t child = fork();
  if (child < 0) {
    why = std::string("fork: ") + std::strerror(errno);
    close(out[0]);
    close(out[1]);
    return std::nullopt;
  }
  if (child == 0) {
    const int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(null, 2) < 0) _exit(126);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (text.size() < (1u << 20)) text.append(buffer, static_cast<std::size_t>(n));
  }
  close(out[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return text;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    why = argv[0] + " could not be run";
  } else if (WIFEXITED(status)) {
    why = argv[0] + " -T exited with " + std::to_string(WEXITSTATUS(status));
  } else {
    why = argv[0] + " -T was killed";
  }
  return std::nullopt;
}

// sshd_config read the way sshd reads it, for when `sshd -T` cannot run: the first value of a
// keyword wins; Include is followed (relative to /etc/ssh); reading stops at the first Match.
void read_config_files(const std::string& path, std::map<std::string, std::string>& values,
                       int depth = 0) {
  if (depth > 8) return;
  const auto text = read_whole_file(path);
  if (!text) return;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    const std::size_t i = line.find_first_not_of(" \t\r");
    if (i == std::string::npos) continue;
    const std::size_t j = line.find_first_of(" \t=", i);
    const std::string key =
        lowered(line.substr(i, j == std::string::npos ? std::string::npos : j - i));
    std::string value;
    if (j != std::string::npos) {
      const std::size_t v = line.find_first_not_of(" \t=", j);
      if (v != std::string::npos) value = line.substr(v);
      while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) {
        value.pop_back();
      }
    }
    if (key == "match") return;
    if (key == "include") {
      std::istringstream patterns(value);
      std::string pattern;
      while (patterns >> pattern) {
        if (pattern[0] != '/') pattern = "/etc/ssh/" + pattern;
        glob_t matches{};
        if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
          for (std::size_t k = 0; k < matches.gl_pathc; ++k) {
            read_config_files(matches.gl_pathv[k], values, depth + 1);
          }
        }
        globfree(&matches);
      }
      continue;
    }
    values.emplace(key, lowered(value));  // first wins
  }
}

std::string value_of(const SshdSettings& s, const char* key, const char* fallback) {
  const auto it = s.values.find(key);
  return it == s.values.end() ? std::string(fallback) : it->second;
}

// The methods sshd offers, as AuthenticationMethods names, each with whether it is switched on.
bool method_enabled(const SshdSettings& s, const std::string& method) {
  if (method == "publickey") return value_of(s, "pubkeyauthentication", "yes") == "yes";
  if (method == "password") return value_of(s, "passwordauthentication", "yes") == "yes";
  if (method == "keyboard-interactive") {
    return value_of(s, "kbdinteractiveauthentication", "yes") == "yes";
  }
  if (method == "hostbased") return value_of(s, "hostbasedauthentication", "no") == "yes";
  if (method == "gssapi-with-mic") return value_of(s, "gssapiauthentication", "no") == "yes";
  return false;  // none, or unknown to this check: sshd would refuse the list
}

// The method lists a login may complete: AuthenticationMethods, or with `any` each enabled method
// alone. A list naming a method that is switched off can never complete and is left out.
std::vector<std::vector<std::string>> method_lists(const SshdSettings& s) {
  std::vector<std::vector<std::string>> lists;
  const std::string methods = value_of(s, "authenticationmethods", "any");
  if (methods == "any") {
    for (const char* m :
         {"publickey", "password", "keyboard-interactive", "hostbased", "gssapi-with-mic"}) {
      if (method_enabled(s, m)) lists.push_back({m});
    }
    return lists;
  }
  std::istringstream words(methods);
  std::string word;
  while (words >> word) {
    std::vector<std::string> list;
    std::istringstream parts(word);
    std::string part;
    bool usable = true;
    while (std::getline(parts, part, ',')) {
      part = part.substr(0, part.find(':'));  // keyboard-interactive:pam
      usable = usable && method_enabled(s, part);
      list.push_back(part);
    }
    if (usable && !list.empty()) lists.push_back(std::move(list));
  }
  return lists;
}

std::string joined(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

}  // namespace

SshdSettings parse_sshd_dump(const std::string& text) {
  SshdSettings settings;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const std::size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    settings.values.emplace(lowered(line.substr(0, space)), lowered(line.substr(space + 1)));
  }
  settings.found = !settings.values.empty();
  return settings;
}

SshdSettings read_sshd_settings(const std::string& config, const std::string& sshd) {
  struct stat st {};
  if (stat(config.c_str(), &st) != 0) {
    SshdSettings none;
    none.source = config;
    return none;
  }
  std::string why;
  if (access(sshd.c_str(), X_OK) == 0) {
    if (const auto dump = run_capturing({sshd, "-T", "-f", config}, why)) {
      SshdSettings settings = parse_sshd_dump(*dump);
      settings.source = "sshd -T -f " + config;
      if (settings.found) return settings;
      why = sshd + " -T printed nothing";
    }
  } else {
    why = sshd + " is not installed";
  }
  SshdSettings settings;
  read_config_files(config, settings.values);
  settings.source = config;
  settings.note = "read " + config + " and its Includes directly (" + why +
                  "; run as root with sshd's /run/sshd for sshd's own reading)";
  settings.found = true;
  return settings;
}

std::vector<std::string> single_factor_paths(const Policy& policy) {
  std::vector<std::string> found;
  if (!policy.auth) return found;
  // As keyboard-interactive alone reaches the policy: sshd completed nothing before it. A path
  // that needs ssh.auth to hold a key is not one factor; unknown ssh.auth is never weaker.
  const Explanation explanation =
      explain_policy(policy, ExplainOptions{.ssh_nothing_completed = true});
  for (const auto& answer : explanation.answers) {
    if (answer.denied) continue;
    for (const auto& combination : answer.accepted) {
      if (combination.size() != 1 || combination.front() == "password") continue;
      std::string entry = combination.front();
      if (!answer.situation.empty() && answer.situation != "always") {
        entry += " (when " + answer.situation + ")";
      }
      if (std::find(found.begin(), found.end(), entry) == found.end()) found.push_back(entry);
    }
  }
  return found;
}

std::optional<Diagnostic> sshd_single_factor_warning(const std::string& path,
                                                     const Policy& policy) {
  const std::string name = path.substr(path.rfind('/') + 1);
  if (name != "sshd.pol") return std::nullopt;
  const std::vector<std::string> single = single_factor_paths(policy);
  if (single.empty()) return std::nullopt;
  return Diagnostic{Severity::warning,
                    "W113",
                    "sshd: " + joined(single, ", ") +
                        " alone lets auth pass: without 'AuthenticationMethods "
                        "publickey,keyboard-interactive' in sshd_config that one factor logs in",
                    policy.auth_location,
                    {"ask the password unless sshd checked a key: 'auth (password unless ssh.auth "
                     "in { publickey }) && totp'; 'authpolicy status' checks the running sshd "
                     "configuration"}};
}

std::vector<std::string> sshd_exposures(const SshdSettings& settings,
                                        const std::vector<std::string>& single_factors) {
  std::vector<std::string> problems;
  if (!settings.found) return problems;
  const std::string& where = settings.source;
  if (value_of(settings, "usepam", "no") != "yes") {
    problems.push_back(where +
                       ": UsePAM no: sshd never runs pam_policy.so, every login skips the policy "
                       "(set UsePAM yes)");
    return problems;
  }
  if (value_of(settings, "kbdinteractiveauthentication", "yes") != "yes") {
    problems.push_back(where +
                       ": KbdInteractiveAuthentication no: sshd never shows the policy's prompts "
                       "(set it to yes)");
  }
  const std::string methods = value_of(settings, "authenticationmethods", "any");
  for (const auto& list : method_lists(settings)) {
    const auto has = [&](const char* m) {
      return std::find(list.begin(), list.end(), m) != list.end();
    };
    const std::string name = methods == "any"
                                 ? "AuthenticationMethods any: the " + list.front() + " method"
                                 : "AuthenticationMethods " + joined(list, ",");
    const bool proof_before = has("publickey") || has("hostbased") || has("gssapi-with-mic");
    if (has("keyboard-interactive")) {
      if (proof_before || single_factors.empty()) continue;
      problems.push_back(where + ": " + name + " asks no key first, and the policy lets " +
                         joined(single_factors, ", ") +
                         " alone pass: one factor logs in (set AuthenticationMethods "
                         "publickey,keyboard-interactive, or ask the password in the policy)");
    } else if (has("password")) {
      problems.push_back(where + ": " + name +
                         " runs the policy with sshd answering every prompt with the password: "
                         "a second factor gets the password (and counts it as a failed code); "
                         "set PasswordAuthentication no or leave password out of "
                         "AuthenticationMethods");
    } else {
      problems.push_back(where + ": " + name +
                         " logs in without the policy's auth (only its deny rules run); "
                         "add keyboard-interactive to the list (AuthenticationMethods " +
                         joined(list, ",") + ",keyboard-interactive)");
    }
  }
  return problems;
}

}  // namespace authpolicy::cli
