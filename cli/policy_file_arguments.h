// What the commands that read one policy file share (eval, explain, replay): the file argument
// with --ignore-ownership, and the report of a policy the module would refuse.
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/args.h"
#include "engine/load.h"

namespace authpolicy::cli {

// read_arguments for a command that takes exactly one policy file: it lands in `file`, and
// --ignore-ownership turns options.check_ownership off. `option` takes the command's other
// options (as read_arguments' `option` does); none when empty.
std::optional<int> read_policy_file_arguments(const std::vector<std::string>& args,
                                              const CommandText& text, std::ostream& out,
                                              std::ostream& err, std::string& file,
                                              LoadOptions& options,
                                              const std::function<bool(ArgReader&)>& option = {});

// For a policy that did not load: each error, then "authpolicy COMMAND: FILE has errors; the
// module would refuse it" and `consequence` (" (deny)") on `err`.
void report_refused_policy(const LoadResult& result, std::string_view command,
                           std::string_view file, std::ostream& err,
                           std::string_view consequence = {});

}  // namespace authpolicy::cli
