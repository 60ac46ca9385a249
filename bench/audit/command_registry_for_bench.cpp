// The registry's storage for the benchmark program (the authpolicy binary has its own definition).
#include "cli/command_registry.h"

namespace authpolicy::cli {

std::map<std::string, CommandInfo, std::less<>>& command_registry() {
  static std::map<std::string, CommandInfo, std::less<>> registry;
  return registry;
}

}  // namespace authpolicy::cli
