// The `authpolicy` command: dispatches to the registered sub-commands.
#include <iostream>
#include <string>
#include <vector>

#include "cli/command_registry.h"

namespace {

void usage(std::ostream& out) {
  out << "usage: authpolicy COMMAND [ARGS...]\n\ncommands:\n";
  for (const auto& [name, info] : authpolicy::cli::command_registry()) {
    out << "  " << name << std::string(name.size() < 10 ? 10 - name.size() : 1, ' ')
        << info.summary << "\n";
  }
  out << "\n'authpolicy COMMAND --help' describes one command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(std::cerr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << "authpolicy " << AUTHPOLICY_VERSION << "\n";
    return 0;
  }
  auto& registry = authpolicy::cli::command_registry();
  const auto it = registry.find(name);
  if (it == registry.end()) {
    std::cerr << "authpolicy: unknown command '" << name << "'\n";
    usage(std::cerr);
    return 2;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    return it->second.run(args, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "authpolicy " << name << ": " << e.what() << "\n";
    return 2;
  }
}
