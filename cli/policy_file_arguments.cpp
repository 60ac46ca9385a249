// One policy file on the command line, and what a command says when the module would refuse it.
#include "cli/policy_file_arguments.h"

#include <ostream>

#include "engine/render.h"

namespace authpolicy::cli {

std::optional<int> read_policy_file_arguments(const std::vector<std::string>& args,
                                              const CommandText& text, std::ostream& out,
                                              std::ostream& err, std::string& file,
                                              LoadOptions& options,
                                              const std::function<bool(ArgReader&)>& option) {
  return read_arguments(
      args, text, out, err,
      [&](ArgReader& reader) {
        if (reader.is("--ignore-ownership")) {
          options.check_ownership = false;
          return true;
        }
        return option && option(reader);
      },
      [&](const std::string& name) {
        if (!file.empty()) throw UsageError(std::string(text.name) + " takes one policy file");
        file = name;
      },
      [&] {
        if (file.empty()) throw UsageError("no policy file given");
      });
}

void report_refused_policy(const LoadResult& result, std::string_view command,
                           std::string_view file, std::ostream& err, std::string_view consequence) {
  for (const auto& d : result.diagnostics) {
    if (d.severity == Severity::error) err << render_text(d, result.files);
  }
  err << "authpolicy " << command << ": " << file << " has errors; the module would refuse it"
      << consequence << "\n";
}

}  // namespace authpolicy::cli
