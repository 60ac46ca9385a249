// `authpolicy enable`, `disable` and `status`: wiring pam_policy.so into /etc/pam.d safely.
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/file_trust.h"
#include "base/trusted_write.h"
#include "cli/args.h"
#include "cli/command_registry.h"
#include "cli/pam_stack.h"
#include "cli/readiness.h"
#include "cli/sshd_exposure.h"
#include "engine/evaluate.h"
#include "engine/geoip_lookup.h"
#include "engine/load.h"
#include "engine/render.h"

#ifndef AUTHPOLICY_SYSTEM_PAM_DIR
#define AUTHPOLICY_SYSTEM_PAM_DIR "/usr/lib/x86_64-linux-gnu/security"
#endif
#ifndef AUTHPOLICY_PAM_MODULE_DIR
#define AUTHPOLICY_PAM_MODULE_DIR AUTHPOLICY_SYSTEM_PAM_DIR
#endif
#ifndef AUTHPOLICY_POLICY_DIR
#define AUTHPOLICY_POLICY_DIR "/etc/authpolicy"
#endif

namespace authpolicy::cli {
namespace {

constexpr const char* kDefaultStateDir = "/var/lib/authpolicy/pam.d-backup";

constexpr const char* kEnableUsage =
    "usage: authpolicy enable [--dry-run] [--missing-ignore] [--accept-warnings] SERVICE...\n"
    "  Puts pam_policy.so in charge of SERVICE's authentication, using\n"
    "  /etc/authpolicy/SERVICE.pol for every PAM stack of that entry point\n"
    "  (sudo also edits sudo-i, su also su-l). Lines are added to the service's own\n"
    "  file in front of its '@include common-auth' / '@include common-account', each\n"
    "  after a comment naming authpolicy; common-* files are not touched.\n"
    "  Refuses (nothing changed) when the policy is missing or has errors. Shows the\n"
    "  policy's warnings, and refuses W107 (explicit permit), W110 (never permits)\n"
    "  and W112 (a factor replaces the password) unless --accept-warnings.\n"
    "  Prints the diff, keeps a backup, writes atomically, then checks each service\n"
    "  with pam_start. Running it again changes nothing.\n"
    "  --dry-run         show the diff only\n"
    "  --missing-ignore  add missing=ignore: removing the policy file then hands the\n"
    "                    service back to its stock stack (a broken policy still fails)\n"
    "  For sshd it also names every way sshd's running configuration (sshd -T) lets a\n"
    "  login past the policy.\n"
    "  --accept-warnings  enable despite W107, W110 or W112\n"
    "  --pam-dir --policy-dir --state-dir --module --sshd-config   (for tests)\n"
    "  exit 0: enabled (or already); 1: refused, nothing changed; 2: usage or trouble\n";

constexpr const char* kDisableUsage =
    "usage: authpolicy disable [--dry-run] (SERVICE... | --all)\n"
    "  Undoes 'authpolicy enable': restores each file byte for byte from the backup\n"
    "  when it was not changed since; otherwise removes exactly the lines enable added\n"
    "  (and says so). --all: every file that carries authpolicy's lines.\n"
    "  --pam-dir DIR --state-dir DIR   (for tests)\n"
    "  exit 0: done (or nothing to do); 1: a SERVICE has no file in the PAM folder;\n"
    "  2: usage or trouble\n";

constexpr const char* kStatusUsage =
    "usage: authpolicy status [--json]\n"
    "  Which PAM services run pam_policy.so, the policy each uses, and what would\n"
    "  break: a policy missing or with errors, a missing GeoIP database, secret files\n"
    "  readable by others, and every way sshd's running configuration (sshd -T) lets a\n"
    "  login past the sshd policy. Lists the policy's warnings (they do not change\n"
    "  the exit code), and the users who will be refused for want of an enrolment a\n"
    "  factor they need (enrolled(), a date deadline) and from which day (neither\n"
    "  changes the exit code).\n"
    "  --pam-dir DIR --policy-dir DIR --sshd-config FILE   (for tests)\n"
    "  exit 0: no problems; 1: problems listed; 2: usage or trouble\n";

// The module as pam.d lines name it: a bare name when it is installed in the system's PAM folder
// (where libpam looks), else its installed path (a /usr/local build).
std::string default_module() {
  const std::string_view installed = AUTHPOLICY_PAM_MODULE_DIR;
  if (installed == AUTHPOLICY_SYSTEM_PAM_DIR) return "pam_policy.so";
  return std::string(installed) + "/pam_policy.so";
}

struct Options {
  std::string pam_dir = "/etc/pam.d";
  std::string policy_dir = AUTHPOLICY_POLICY_DIR;
  std::string state_dir = kDefaultStateDir;
  std::string module = default_module();
  std::string sshd_config = "/etc/ssh/sshd_config";
  bool dry_run = false;
  bool missing_ignore = false;
  bool accept_warnings = false;
  bool json = false;
  bool all = false;
  std::vector<std::string> services;
};

// Reads the options enable, disable and status share; `check` looks at the whole. Returns the exit
// code to end with (after --help or a usage error), or nothing when the command is to run.
std::optional<int> parse_options(const std::vector<std::string>& args, const CommandText& text,
                                 Options& o, std::ostream& out, std::ostream& err,
                                 const std::function<void()>& check) {
  return read_arguments(
      args, text, out, err,
      [&](ArgReader& reader) {
        const std::string& flag = reader.flag();
        if (flag == "--dry-run") {
          o.dry_run = true;
        } else if (flag == "--missing-ignore") {
          o.missing_ignore = true;
        } else if (flag == "--accept-warnings") {
          o.accept_warnings = true;
        } else if (flag == "--json") {
          o.json = true;
        } else if (flag == "--all") {
          o.all = true;
        } else if (flag == "--pam-dir") {
          o.pam_dir = reader.value();
        } else if (flag == "--policy-dir") {
          o.policy_dir = reader.value();
        } else if (flag == "--state-dir") {
          o.state_dir = reader.value();
        } else if (flag == "--module") {
          o.module = reader.value();
        } else if (flag == "--sshd-config") {
          o.sshd_config = reader.value();
        } else {
          return false;
        }
        return true;
      },
      [&](const std::string& name) {
        if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos ||
            name.size() > 255) {
          throw UsageError("not a PAM service name: " + name);
        }
        o.services.push_back(name);
      },
      check);
}

// The policy's errors as compiler-style text, or empty when it may be used. With
// `geoip_deny_errors` a `deny if` on a GeoIP database that cannot be opened counts (E027): the
// module would run the policy, but that rule would lock out remote logins.
std::string policy_errors(const std::string& path, std::shared_ptr<const Policy>* policy,
                          bool geoip_deny_errors = true) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return path + ": no such policy file\n";
  LoadOptions options;
  options.check_ownership = true;
  options.warnings = false;
  options.geoip_deny_errors = geoip_deny_errors;
  const LoadResult result = load_policy_file(path, options);
  if (policy) *policy = result.policy;
  if (result.policy) return {};
  std::string text;
  for (const auto& d : result.diagnostics) {
    if (d.severity != Severity::error) continue;
    std::string line = render_text(d, result.files);
    if (d.location.file >= result.files.size()) line = path + ": " + line;
    text += line;
  }
  return text.empty() ? path + ": cannot be used\n" : text;
}

// Warnings `enable` refuses unless --accept-warnings: the policy is weaker than it looks (W107 an
// explicit permit path, W112 a single factor that replaces the password) or locks everyone out
// (W110 never permits).
constexpr std::string_view kRefusedWarnings[] = {"W107", "W110", "W112"};

bool refused_warning(const std::string& code) {
  return std::find(std::begin(kRefusedWarnings), std::end(kRefusedWarnings), code) !=
         std::end(kRefusedWarnings);
}

// What `authpolicy check` warns about the policy at `path` (which has no errors).
struct PolicyWarnings {
  std::vector<std::string> rendered;  // each with its source line and caret
  std::vector<std::string> lines;     // each as one line: "file:line:col: warning[Wnnn]: ..."
  std::vector<std::string> refused;   // the codes among them in kRefusedWarnings
  std::shared_ptr<const Policy> policy;
};

PolicyWarnings policy_warnings(const std::string& path) {
  LoadOptions options;
  options.check_ownership = true;
  options.warnings = true;
  options.geoip_deny_errors = true;
  const LoadResult result = load_policy_file(path, options);
  PolicyWarnings found;
  found.policy = result.policy;
  for (const auto& d : result.diagnostics) {
    if (d.severity != Severity::warning) continue;
    std::string text = render_text(d, result.files);
    if (d.location.file >= result.files.size()) text = path + ": " + text;
    found.lines.push_back(text.substr(0, text.find('\n')));
    found.rendered.push_back(std::move(text));
    if (refused_warning(d.code) &&
        std::find(found.refused.begin(), found.refused.end(), d.code) == found.refused.end()) {
      found.refused.push_back(d.code);
    }
  }
  return found;
}

int failing_conversation(int, const pam_message**, pam_response**, void*) {
  return PAM_CONV_ERR;
}

// libpam reads the service (and its includes) and loads its modules: what every login will do.
std::string pam_start_problem(const std::string& pam_dir, const std::string& service) {
  const pam_conv conversation{failing_conversation, nullptr};
  pam_handle_t* handle = nullptr;
  const int rc =
      pam_dir == "/etc/pam.d"
          ? pam_start(service.c_str(), "root", &conversation, &handle)
          : pam_start_confdir(service.c_str(), "root", &conversation, pam_dir.c_str(), &handle);
  if (rc != PAM_SUCCESS) {
    std::string message = "pam_start(" + service + ") failed: " + pam_strerror(handle, rc);
    if (handle) pam_end(handle, rc);
    return message;
  }
  pam_end(handle, PAM_SUCCESS);
  return {};
}

// The module file libpam will load for `module` (a bare name lives in the system's PAM folder),
// and why it cannot be used, or empty.
// The module the PAM files will name must pass the same trust walk as every file the module
// itself loads (base/file_trust.h): root's, closed to writes by others, all the way from "/".
std::string module_problem(const std::string& module) {
  const std::string path = module.find('/') == std::string::npos
                               ? std::string(AUTHPOLICY_SYSTEM_PAM_DIR) + "/" + module
                               : module;
  const TrustedFile walked = open_trusted(path, TrustRules{});
  if (walked.ok()) return {};
  if (walked.status == TrustStatus::missing) {
    return path + ": " + std::strerror(walked.error_number) + " (is the package installed?)";
  }
  return path + ": " + walked.reason;
}

std::string state_file(const Options& o, const std::string& service, const char* suffix) {
  return o.state_dir + "/" + service + suffix;
}

// What the PAM folder, the state folder and the backups in it must be: root's (or the caller's,
// for a test run without root), closed to writes by group and others, all the way from "/".
TrustRules admin_rules() {
  TrustRules rules;
  if (geteuid() != 0) rules.extra_owners.push_back(geteuid());
  return rules;
}

std::string last_component(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The folder every enable/disable write goes into, walked once (base/file_trust.h); its error
// names the folder and why it was refused.
TrustedFile open_write_folder(const std::string& path, std::string& problem) {
  const std::string absolute =
      path.empty() || path.front() == '/' ? path : std::filesystem::absolute(path).string();
  TrustedFile folder = open_folder_trusted(absolute, admin_rules());
  if (!folder.ok()) problem = path + " refused: " + folder.reason;
  return folder;
}

// The backup folder, walked from "/" like everything root trusts: a parent a user owns (or may
// write) is refused, never written below. /var/lib/authpolicy may not exist yet on a fresh install
// (nothing logged so far): that one parent is created too, root-only like the audit log's folder.
// With `create` false a missing folder is not an error (`missing` status, no problem).
TrustedFile open_state_dir(const std::string& dir, bool create, std::string& problem) {
  const std::string absolute =
      dir.empty() || dir.front() == '/' ? dir : std::filesystem::absolute(dir).string();
  const TrustRules rules = admin_rules();
  TrustedFile state = open_folder_trusted(absolute, rules);
  if (state.status == TrustStatus::missing && create) {
    const std::string parent_path = parent_of(absolute);
    TrustedFile parent = open_folder_trusted(parent_path, rules);
    if (parent.status == TrustStatus::missing) {
      const TrustedFile grandparent = open_folder_trusted(parent_of(parent_path), rules);
      parent = make_folder_at(grandparent, last_component(parent_path), 0700, rules);
    }
    state = make_folder_at(parent, last_component(absolute), 0700, rules);
  }
  if (!state.ok() && !(state.status == TrustStatus::missing && !create)) {
    problem = "backup folder " + dir + " refused: " + state.reason;
  }
  // Nobody else may leave a file where restores come from: not even a sticky folder will do.
  if (state.ok() && (state.info.st_mode & 022) != 0) {
    problem = "backup folder " + dir + " refused: it is writable by group or others";
    return TrustedFile();
  }
  return state;
}

// A backup file of the state folder, read through it: root's (or the caller's), one link, not
// writable by others. nullopt when missing; `problem` when it is there but refused.
std::optional<std::string> read_backup(const TrustedFile& state, const std::string& name,
                                       std::string& problem) {
  if (!state.ok()) return std::nullopt;
  TrustRules rules = admin_rules();
  rules.forbidden_file_bits = 077;  // enable writes them 0600
  const TrustedFile file = open_at_trusted(state, name, rules);
  if (file.status == TrustStatus::missing) return std::nullopt;
  std::optional<std::string> text = read_trusted(file, 1 << 20, &problem);
  if (!text) problem = "backup " + state.real_path + "/" + name + " refused: " + problem;
  return text;
}

// ---- enable -----------------------------------------------------------------------------------

std::vector<std::string> sshd_problems(const std::string& config, const Policy* policy,
                                       std::string* note);

int run_enable(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Options o;
  const auto end = parse_options(args, {"enable", kEnableUsage}, o, out, err, [&] {
    if (o.services.empty()) throw UsageError("no service given");
  });
  if (end) return *end;

  // Everything is checked before anything is written.
  std::vector<FilePlan> plans;
  bool refused = false;
  std::shared_ptr<const Policy> sshd_policy;
  if (const std::string problem = module_problem(o.module); !problem.empty()) {
    err << "authpolicy enable: refusing: the PAM module " << problem << " (nothing changed)\n";
    return kExitRefused;
  }
  for (const std::string& entry : o.services) {
    const std::string policy = o.policy_dir + "/" + entry + ".pol";
    if (const std::string problem = policy_errors(policy, nullptr); !problem.empty()) {
      err << problem << "authpolicy enable: refusing " << entry
          << ": its policy does not pass 'authpolicy check' (nothing changed)\n";
      refused = true;
      continue;
    }
    const PolicyWarnings warnings = policy_warnings(policy);
    for (const auto& text : warnings.rendered) err << text;
    if (!warnings.refused.empty() && !o.accept_warnings) {
      std::string codes;
      for (const auto& code : warnings.refused) codes += (codes.empty() ? "" : ", ") + code;
      err << "authpolicy enable: refusing " << entry << ": its policy has " << codes
          << " (weaker than it reads, or never permits); fix it, or enable it anyway with "
             "--accept-warnings (nothing changed)\n";
      refused = true;
      continue;
    }
    if (entry == "sshd") sshd_policy = warnings.policy;
    EnableSettings settings;
    settings.pam_dir = o.pam_dir;
    settings.policy_path = policy;
    settings.module = o.module;
    settings.missing_ignore = o.missing_ignore;
    std::vector<FilePlan> entry_plans = plan_enable(entry, settings);
    if (entry_plans.empty()) {
      err << "authpolicy enable: refusing " << entry << ": no " << o.pam_dir << "/" << entry
          << "\n";
      refused = true;
    }
    for (auto& plan : entry_plans) {
      if (!plan.problem.empty()) {
        err << "authpolicy enable: refusing " << entry << ": " << plan.path << ": " << plan.problem
            << "\n";
        refused = true;
      }
      plans.push_back(std::move(plan));
    }
  }
  if (refused) return kExitRefused;

  for (const auto& plan : plans) {
    if (plan.already_enabled) {
      out << plan.path << ": already enabled\n";
    } else if (plan.wired_by_hand) {
      out << plan.path << ": runs pam_policy.so already (not added by authpolicy): left alone\n";
    } else if (!plan.covered_by.empty()) {
      out << plan.path << ": covered through its include of " << plan.covered_by << "\n";
    } else {
      out << unified_diff(plan.path, plan.original, plan.updated);
    }
  }
  if (o.dry_run) return kExitOk;

  std::string problem;
  const TrustedFile pam_folder = open_write_folder(o.pam_dir, problem);
  if (!pam_folder.ok()) {
    err << "authpolicy enable: refusing: " << problem << " (nothing changed)\n";
    return kExitRefused;
  }
  TrustedFile state;
  if (std::any_of(plans.begin(), plans.end(),
                  [](const FilePlan& plan) { return plan.updated != plan.original; })) {
    state = open_state_dir(o.state_dir, true, problem);
    if (!state.ok()) {
      err << "authpolicy enable: refusing: " << problem << " (nothing changed)\n";
      return kExitRefused;
    }
  }
  std::vector<const FilePlan*> written;
  auto roll_back = [&] {
    for (const FilePlan* plan : written) {
      if (write_atomically(pam_folder, last_component(plan->path), plan->original).empty()) {
        remove_at(state, plan->service + ".orig");
        remove_at(state, plan->service + ".enabled");
        err << plan->path << ": restored\n";
      } else {
        err << plan->path << ": COULD NOT BE RESTORED, backup in "
            << state_file(o, plan->service, ".orig") << "\n";
      }
    }
  };
  for (const auto& plan : plans) {
    if (plan.updated == plan.original) continue;
    problem = write_atomically(state, plan.service + ".orig", plan.original, 0600);
    if (problem.empty()) {
      problem = write_atomically(pam_folder, last_component(plan.path), plan.updated);
    }
    if (problem.empty()) {
      written.push_back(&plan);
      problem = write_atomically(state, plan.service + ".enabled", plan.updated, 0600);
    }
    if (!problem.empty()) {
      err << "authpolicy enable: " << problem << "\n";
      roll_back();
      return kExitTrouble;
    }
  }

  // Verify what libpam will see: every file's auth and account stacks reach pam_policy.so, and
  // libpam can start each service.
  std::string failure;
  for (const auto& plan : plans) {
    if (plan.wired_by_hand) continue;
    for (const char* type : {"auth", "account"}) {
      if (!stack_runs_policy(o.pam_dir, plan.service, type)) {
        failure = plan.path + ": the " + type + " stack does not reach pam_policy.so";
      }
    }
    if (const std::string p = pam_start_problem(o.pam_dir, plan.service); !p.empty()) failure = p;
    if (!failure.empty()) break;
    out << plan.service << ": pam_start ok, auth and account run " << o.module << "\n";
  }
  if (!failure.empty()) {
    err << "authpolicy enable: verification failed: " << failure << "; rolling back\n";
    roll_back();
    return kExitTrouble;
  }
  if (std::find(o.services.begin(), o.services.end(), "sshd") != o.services.end()) {
    std::string note;
    for (const auto& p : sshd_problems(o.sshd_config, sshd_policy.get(), &note)) {
      out << "warning: " << p << "\n";
    }
    if (!note.empty()) out << "note: " << note << "\n";
  }
  if (!written.empty()) {
    out << "enabled; backups in " << o.state_dir
        << ". Keep a root shell open and test in a new terminal before closing it.\n";
  }
  return kExitOk;
}

// ---- disable ----------------------------------------------------------------------------------

std::vector<std::string> files_with_markers(const std::string& pam_dir) {
  std::vector<std::string> found;
  DIR* dir = opendir(pam_dir.c_str());
  if (!dir) return found;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const auto text = read_whole_file(pam_dir + "/" + entry->d_name);
    if (text && text->find(kMarkerPrefix) != std::string::npos) found.push_back(entry->d_name);
  }
  closedir(dir);
  std::sort(found.begin(), found.end());
  return found;
}

int run_disable(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Options o;
  const auto end = parse_options(args, {"disable", kDisableUsage}, o, out, err, [&] {
    if (o.services.empty() == !o.all) throw UsageError("give SERVICE... or --all");
  });
  if (end) return *end;
  std::vector<std::string> files;
  int code = kExitOk;
  if (o.all) {
    files = files_with_markers(o.pam_dir);
  } else {
    for (const auto& entry : o.services) {
      bool any = false;
      for (const auto& service : entry_point_services(entry)) {
        files.push_back(service);
        struct stat st {};
        any = any || stat((o.pam_dir + "/" + service).c_str(), &st) == 0;
      }
      // A typo must not look like success.
      if (!any) {
        err << "authpolicy disable: no PAM service " << entry << ": " << o.pam_dir << "/" << entry
            << " does not exist\n";
        code = kExitRefused;
      }
    }
  }
  std::string problem;
  const TrustedFile pam_folder = open_write_folder(o.pam_dir, problem);
  if (!pam_folder.ok()) {
    err << "authpolicy disable: " << problem << "\n";
    return kExitTrouble;
  }
  // Backups are restored only from a state folder that passes the trust walk, and only when each
  // file in it does: a backup someone else could have planted is never put into /etc/pam.d.
  const TrustedFile state = open_state_dir(o.state_dir, false, problem);
  if (!problem.empty()) err << "authpolicy disable: " << problem << "; not restoring from it\n";
  for (const std::string& service : files) {
    const std::string path = o.pam_dir + "/" + service;
    const auto current = read_whole_file(path);
    if (!current) continue;
    if (current->find(kMarkerPrefix) == std::string::npos) {
      out << path << ": not enabled by authpolicy\n";
      continue;
    }
    std::string refused;
    const auto written = read_backup(state, service + ".enabled", refused);
    const auto original = read_backup(state, service + ".orig", refused);
    if (!refused.empty()) err << "authpolicy disable: " << refused << "; not restoring from it\n";
    std::string restored;
    if (refused.empty() && written && original && *written == *current) {
      restored = *original;
      out << path << ": restored from the backup\n";
    } else {
      std::size_t removed = 0;
      restored = remove_added_lines(*current, &removed);
      out << path << ": changed since 'authpolicy enable' (or no backup): removed the " << removed
          << " lines authpolicy added, kept everything else\n";
    }
    out << unified_diff(path, *current, restored);
    if (o.dry_run) continue;
    if (const std::string failed = write_atomically(pam_folder, service, restored);
        !failed.empty()) {
      err << "authpolicy disable: " << failed << "\n";
      code = kExitTrouble;
      continue;
    }
    // A refused backup is left where it is, for the administrator to look at.
    if (state.ok() && refused.empty()) {
      remove_at(state, service + ".enabled");
      remove_at(state, service + ".orig");
    }
  }
  return code;
}

// ---- status -----------------------------------------------------------------------------------

// What in sshd's running configuration lets a login past the sshd policy (cli/sshd_exposure.h),
// with how the settings were read when `sshd -T` could not be used.
std::vector<std::string> sshd_problems(const std::string& config, const Policy* policy,
                                       std::string* note) {
  const SshdSettings settings = read_sshd_settings(config);
  if (note) *note = settings.note;
  return sshd_exposures(settings,
                        policy ? single_factor_paths(*policy) : std::vector<std::string>{});
}

// What each used factor's kit checks on this machine (secret folders, authfiles, TPM).
void secret_problems(const Policy& policy, std::vector<std::string>& problems) {
  for (const auto& factor : policy.factors) {
    if (factor.used && factor.kit->deployment) factor.kit->deployment(factor.settings, problems);
  }
}

// The users who will be refused for want of an enrolment (cli/readiness.h), as status lists them.
nlohmann::json not_enrolled_rows(const Policy& policy, const std::string& service) {
  nlohmann::json rows = nlohmann::json::array();
  for (const NotReady& user : users_not_ready(policy, service)) {
    nlohmann::json missing = nlohmann::json::array();
    for (const auto& m : user.missing) {
      missing.push_back(
          {{"factor", m.factor},
           {"enrolment", m.enrolment.state == Enrolment::State::none ? "none" : "unknown"},
           {"detail", m.enrolment.detail}});
    }
    rows.push_back({{"user", user.user},
                    {"missing", missing},
                    {"refused_from", date_text(user.refused_from)},
                    {"refused_now", user.refused_now}});
  }
  return rows;
}

void print_not_enrolled(const nlohmann::json& rows, std::ostream& out) {
  for (const auto& row : rows) {
    out << "  not enrolled: " << row["user"].get<std::string>() << " lacks ";
    bool first = true;
    for (const auto& m : row["missing"]) {
      out << (first ? "" : ", ") << m["factor"].get<std::string>() << " ("
          << m["detail"].get<std::string>() << ")";
      first = false;
    }
    if (row["refused_now"].get<bool>()) {
      out << ": refused now\n";
    } else {
      out << ": refused from " << row["refused_from"].get<std::string>() << "\n";
    }
  }
}

int run_status(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Options o;
  if (const auto end = parse_options(args, {"status", kStatusUsage}, o, out, err, {})) return *end;
  std::set<std::string> services;
  for (const char* entry : {"sudo", "su", "sshd", "login"}) {
    for (const auto& s : entry_point_services(entry)) services.insert(s);
  }
  if (DIR* dir = opendir(o.pam_dir.c_str())) {
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      if (stack_runs_policy(o.pam_dir, entry->d_name, "auth") ||
          stack_runs_policy(o.pam_dir, entry->d_name, "account")) {
        services.insert(entry->d_name);
      }
    }
    closedir(dir);
  } else {
    err << "authpolicy status: cannot read " << o.pam_dir << "\n";
    return kExitTrouble;
  }

  nlohmann::json report = nlohmann::json::array();
  bool any_problem = false;
  for (const std::string& service : services) {
    const std::string path = o.pam_dir + "/" + service;
    const auto text = read_whole_file(path);
    if (!text) continue;
    std::string auth_policy, account_policy;
    const bool auth = stack_runs_policy(o.pam_dir, service, "auth", &auth_policy);
    const bool account = stack_runs_policy(o.pam_dir, service, "account", &account_policy);
    // su-l runs the lines enable added to su: those count as added too.
    bool added = text->find(kMarkerPrefix) != std::string::npos;
    for (const PamLine& line : parse_pam_file(*text)) {
      if (!line.include || added) continue;
      const auto included = read_whole_file(o.pam_dir + "/" + line.module);
      added = included && included->find(kMarkerPrefix) != std::string::npos;
    }
    nlohmann::json row = {{"service", service},
                          {"file", path},
                          {"auth", auth},
                          {"account", account},
                          {"added_by_authpolicy", added}};
    std::vector<std::string> problems;
    if (auth || account) {
      std::string policy = auth ? auth_policy : account_policy;
      if (policy.empty()) policy = o.policy_dir + "/" + service + ".pol";
      row["policy"] = policy;
      std::shared_ptr<const Policy> loaded;
      // The module's view first: errors that make every login fail.
      if (std::string errors = policy_errors(policy, &loaded, false); !errors.empty()) {
        while (!errors.empty() && errors.back() == '\n') errors.pop_back();
        problems.push_back("policy unusable, logins fail: " + errors);
      } else if (std::string denies = policy_errors(policy, nullptr); !denies.empty()) {
        // Usable, but a deny rule on a GeoIP database that cannot be opened (E027).
        while (!denies.empty() && denies.back() == '\n') denies.pop_back();
        problems.push_back("GeoIP: " + denies);
        secret_problems(*loaded, problems);
      } else {
        for (const auto& [subject, field] : {std::pair{Subject::country, GeoField::country},
                                             std::pair{Subject::asn, GeoField::asn}}) {
          if (!loaded->uses_subject(subject)) continue;
          if (const std::optional<std::string> p = geoip_problem(loaded->geoip, field)) {
            problems.push_back("GeoIP: " + *p);
          }
        }
        secret_problems(*loaded, problems);
      }
      if (loaded) row["warnings"] = policy_warnings(policy).lines;
      if (loaded && auth) row["not_enrolled"] = not_enrolled_rows(*loaded, service);
      if (auth != account) {
        problems.push_back(std::string("pam_policy.so runs in ") + (auth ? "auth" : "account") +
                           " only");
      }
      if (service == "sshd") {
        std::string note;
        for (auto& p : sshd_problems(o.sshd_config, loaded.get(), &note)) {
          problems.push_back(std::move(p));
        }
        if (!note.empty()) row["sshd_note"] = note;
      }
    }
    row["problems"] = problems;
    any_problem = any_problem || !problems.empty();
    if (!o.json) {
      out << service << ": ";
      if (!auth && !account) {
        out << "not covered\n";
      } else {
        out << (auth ? "auth" : "") << (auth && account ? "+" : "") << (account ? "account" : "")
            << " run pam_policy.so with " << row["policy"].get<std::string>()
            << (added ? " (added by authpolicy enable)" : " (wired by hand)") << "\n";
      }
      for (const auto& p : problems) out << "  problem: " << p << "\n";
      if (row.contains("warnings")) {
        for (const auto& w : row["warnings"]) out << "  warning: " << w.get<std::string>() << "\n";
      }
      if (row.contains("sshd_note"))
        out << "  note: " << row["sshd_note"].get<std::string>() << "\n";
      if (row.contains("not_enrolled")) print_not_enrolled(row["not_enrolled"], out);
    }
    report.push_back(std::move(row));
  }
  if (o.json) out << nlohmann::json{{"services", report}}.dump(2) << "\n";
  return any_problem ? kExitRefused : kExitOk;
}

const RegisterCommand enable_registration{
    "enable", "put pam_policy.so in charge of services (sudo, su, sshd, login...)", run_enable};
const RegisterCommand disable_registration{
    "disable", "undo 'enable': restore the services' pam.d files", run_disable};
const RegisterCommand status_registration{
    "status", "which services run pam_policy.so, and what would break", run_status};

}  // namespace
}  // namespace authpolicy::cli
