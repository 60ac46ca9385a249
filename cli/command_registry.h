// Sub-commands of `authpolicy` register themselves here, one file per command (cli/*_command.cpp).
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/factor_kit.h"

namespace authpolicy::cli {

// The exit codes every sub-command shares: all went well; refused or found problems (a wrong
// PIN, a locked key, a failed integrity check); usage errors or trouble it could not get past.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitTrouble = 2;

// Arguments after the sub-command name; returns the process exit code.
using CommandFunction = std::function<int(const std::vector<std::string>& args, std::ostream& out,
                                          std::ostream& err)>;

struct CommandInfo {
  std::string summary;  // one line for `authpolicy --help`
  CommandFunction run;
};

std::map<std::string, CommandInfo, std::less<>>& command_registry();

// Declare one at namespace scope in the command's file:
//   static const authpolicy::cli::RegisterCommand reg{"pin", "manage TPM PINs", run_pin};
struct RegisterCommand {
  RegisterCommand(std::string name, std::string summary, CommandFunction run) {
    command_registry()[std::move(name)] = CommandInfo{std::move(summary), std::move(run)};
  }
};

// enrolled(FACTOR) for a kind whose plugin tells (EnrolmentStore::plugin, pin): the CLI links
// that kind's library with its command (ap_factor_command), and the command's file registers the
// same reader the kind's plugin answers with, under the plugin's name. eval and status read
// through it (cli/situation.h, plugin_enrolment_for); a kind without one is unknown.
using EnrolmentReader = Enrolment (*)(const Settings& factor_settings, const Settings& tpm_settings,
                                      std::string_view user);
std::map<std::string, EnrolmentReader, std::less<>>& enrolment_readers();

struct RegisterEnrolmentReader {
  RegisterEnrolmentReader(std::string plugin, EnrolmentReader read) {
    enrolment_readers()[std::move(plugin)] = read;
  }
};

}  // namespace authpolicy::cli
