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
  out << "\n'authpolicy help COMMAND' (or 'authpolicy COMMAND --help') describes one command;\n"
         "man authpolicy describes them all.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(std::cerr);
    return 2;
  }
  const std::string name = argv[1];
  auto& registry = authpolicy::cli::command_registry();
  // `authpolicy help CMD` is `authpolicy CMD --help`.
  if (name == "help" && argc >= 3) {
    const auto it = registry.find(argv[2]);
    if (it == registry.end()) {
      std::cerr << "authpolicy: unknown command '" << argv[2] << "'\n";
      usage(std::cerr);
      return 2;
    }
    try {
      return it->second.run({"--help"}, std::cout, std::cerr);
    } catch (const std::exception& e) {
      std::cerr << "authpolicy " << argv[2] << ": " << e.what() << "\n";
      return 2;
    }
  }
  if (name == "--help" || name == "-h" || name == "help") {
    usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << "authpolicy " << AUTHPOLICY_VERSION << "\n";
    return 0;
  }
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
