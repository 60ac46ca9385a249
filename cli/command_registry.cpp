// The one registry every sub-command file adds itself to, shared by the CLI and the tests.
#include "cli/command_registry.h"

namespace authpolicy::cli {

std::map<std::string, CommandInfo, std::less<>>& command_registry() {
  static std::map<std::string, CommandInfo, std::less<>> registry;
  return registry;
}

std::map<std::string, EnrolmentReader, std::less<>>& enrolment_readers() {
  static std::map<std::string, EnrolmentReader, std::less<>> registry;
  return registry;
}

}  // namespace authpolicy::cli
