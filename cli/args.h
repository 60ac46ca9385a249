// Small helpers for sub-command arguments: "--flag VALUE" and "--flag=VALUE" forms.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace authpolicy::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Walks arguments; `value()` takes the flag's value from "=..." or the next argument.
class ArgReader {
 public:
  explicit ArgReader(const std::vector<std::string>& args) : args_(args) {}
  bool next() {
    if (++index_ >= args_.size()) return false;
    const std::string& a = args_[index_];
    // "--" ends the options: a policy file may be named "-x".
    if (a == "--" && !positional_only_) {
      positional_only_ = true;
      return next();
    }
    inline_value_.reset();
    value_taken_ = false;
    const auto eq = a.find('=');
    if (!positional_only_ && a.rfind("--", 0) == 0 && eq != std::string::npos) {
      flag_ = a.substr(0, eq);
      inline_value_ = a.substr(eq + 1);
    } else {
      flag_ = a;
    }
    return true;
  }
  const std::string& flag() const { return flag_; }
  bool is_option() const { return flag_.size() > 1 && flag_[0] == '-' && !positional_only_; }
  // True for the flag `name` given as an option (never for a file named like it after "--").
  bool is(std::string_view name) const { return is_option() && flag_ == name; }
  std::string value() {
    value_taken_ = true;
    if (inline_value_) return *inline_value_;
    if (index_ + 1 >= args_.size()) throw UsageError(flag_ + " needs a value");
    return args_[++index_];
  }
  // The value as a whole number from `min` to `max`; a UsageError otherwise, which says
  // "FLAG needs MEANING" (by default "a whole number from MIN to MAX").
  std::int64_t whole_number(std::int64_t min, std::int64_t max, std::string_view meaning = {});
  // True when "--flag=VALUE" was given and nothing asked for the value: a flag given a value.
  bool value_left_over() const { return inline_value_.has_value() && !value_taken_; }
  const std::string& raw() const { return args_[index_]; }

 private:
  const std::vector<std::string>& args_;
  std::size_t index_ = static_cast<std::size_t>(-1);
  std::string flag_;
  std::optional<std::string> inline_value_;
  bool value_taken_ = false;
  bool positional_only_ = false;
};

// One sub-command's argument loop. `option` takes an option the command knows (reading its value
// from the reader) and returns false for one it does not; an option it takes without asking for
// the value of "--flag=VALUE" is a usage error ("--flag takes no value"); `positional` takes
// every other argument; `check` (if given) looks at the whole after the loop. Each may throw
// UsageError. Returns the exit code to end with: kExitOk after --help (usage on `out`),
// kExitTrouble after a usage error ("authpolicy COMMAND: why" and the usage on `err`); nothing
// when the command is to run.
struct CommandText {
  std::string_view name;   // "check"
  std::string_view usage;  // the full usage text, ending in a newline
  // A command whose first word is a sub-command (audit, pin, totp, u2f) also prints its usage
  // for "authpolicy COMMAND help".
  bool help_word = false;
};
std::optional<int> read_arguments(const std::vector<std::string>& args, const CommandText& text,
                                  std::ostream& out, std::ostream& err,
                                  const std::function<bool(ArgReader&)>& option,
                                  const std::function<void(const std::string&)>& positional,
                                  const std::function<void()>& check = {});

// For the first positional word of "authpolicy COMMAND SUB ...": when `sub_command` is still
// empty, `word` becomes it (a UsageError "unknown WHAT WORD" unless it is one of `known`) and the
// answer is true; false when a sub-command was given before, so the word is something else.
bool take_sub_command(std::string& sub_command, const std::string& word,
                      const std::vector<std::string_view>& known,
                      std::string_view what = "sub-command");

// The words of "authpolicy COMMAND SUB [USER]": the first is the sub-command (as
// take_sub_command), the second the user; a third is a UsageError ("unexpected argument WORD").
void take_sub_command_or_user(std::string& sub_command, std::optional<std::string>& user,
                              const std::string& word, const std::vector<std::string_view>& known);

// "--format text|json" (and its short form "--json"): true for json.
bool read_json_format(ArgReader& reader);

}  // namespace authpolicy::cli
