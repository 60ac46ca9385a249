// The argument loop every sub-command shares: --help, unknown options, usage errors.
#include "cli/args.h"

#include <algorithm>
#include <charconv>
#include <ostream>

#include "cli/command_registry.h"

namespace authpolicy::cli {

std::optional<int> read_arguments(const std::vector<std::string>& args, const CommandText& text,
                                  std::ostream& out, std::ostream& err,
                                  const std::function<bool(ArgReader&)>& option,
                                  const std::function<void(const std::string&)>& positional,
                                  const std::function<void()>& check) {
  if (text.help_word && !args.empty() && args.front() == "help") {
    out << text.usage;
    return kExitOk;
  }
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
      } else if (reader.value_left_over()) {
        throw UsageError(reader.flag() + " takes no value");
      }
    }
    if (check) check();
  } catch (const UsageError& e) {
    err << "authpolicy " << text.name << ": " << e.what() << "\n" << text.usage;
    return kExitTrouble;
  }
  return std::nullopt;
}

std::int64_t ArgReader::whole_number(std::int64_t min, std::int64_t max, std::string_view meaning) {
  const std::string text = value();
  std::int64_t number = 0;
  const char* const end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, number);
  if (text.empty() || ec != std::errc() || stop != end || number < min || number > max) {
    if (!meaning.empty()) throw UsageError(flag_ + " needs " + std::string(meaning));
    throw UsageError(flag_ + " needs a whole number from " + std::to_string(min) + " to " +
                     std::to_string(max));
  }
  return number;
}

bool take_sub_command(std::string& sub_command, const std::string& word,
                      const std::vector<std::string_view>& known, std::string_view what) {
  if (!sub_command.empty()) return false;
  if (std::find(known.begin(), known.end(), word) == known.end()) {
    throw UsageError("unknown " + std::string(what) + " " + word);
  }
  sub_command = word;
  return true;
}

void take_sub_command_or_user(std::string& sub_command, std::optional<std::string>& user,
                              const std::string& word, const std::vector<std::string_view>& known) {
  if (take_sub_command(sub_command, word, known)) return;
  if (user) throw UsageError("unexpected argument " + word);
  user = word;
}

bool read_json_format(ArgReader& reader) {
  if (reader.flag() == "--json") return true;
  const std::string format = reader.value();
  if (format != "text" && format != "json") throw UsageError("--format takes text or json");
  return format == "json";
}

}  // namespace authpolicy::cli
