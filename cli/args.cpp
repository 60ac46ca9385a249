// The argument loop every sub-command shares: --help, unknown options, usage errors.
#include "cli/args.h"

#include <ostream>

#include "cli/command_registry.h"

namespace authpolicy::cli {

std::optional<int> read_arguments(const std::vector<std::string>& args, const CommandText& text,
                                  std::ostream& out, std::ostream& err,
                                  const std::function<bool(ArgReader&)>& option,
                                  const std::function<void(const std::string&)>& positional,
                                  const std::function<void()>& check) {
  try {
    ArgReader reader(args);
    while (reader.next()) {
      if (reader.is("--help") || reader.is("-h")) {
        out << text.usage;
        return kExitOk;
      }
      if (!reader.is_option()) {
        positional(reader.raw());
      } else if (!option(reader)) {
        throw UsageError("unknown option " + reader.flag());
      }
    }
    if (check) check();
  } catch (const UsageError& e) {
    err << "authpolicy " << text.name << ": " << e.what() << "\n" << text.usage;
    return kExitTrouble;
  }
  return std::nullopt;
}

bool read_json_format(ArgReader& reader) {
  if (reader.flag() == "--json") return true;
  const std::string format = reader.value();
  if (format != "text" && format != "json") throw UsageError("--format takes text or json");
  return format == "json";
}

}  // namespace authpolicy::cli
