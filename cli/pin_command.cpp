// `authpolicy pin`: set up, change, delete, test and inspect a user's TPM PIN.
#include "cli/pin_command.h"

#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <memory>
#include <sstream>

#include "base/account_name.h"
#include "base/json_text.h"
#include "base/user_lookup.h"
#include "cli/args.h"
#include "cli/command_registry.h"
#include "engine/load.h"
#include "factors/tpm/pin_backend.h"
#include "factors/tpm/pin_enrolment.h"
#include "factors/tpm/pin_provider.h"
#include "factors/tpm/pin_rules.h"
#include "factors/tpm/pin_store.h"
#include "factors/tpm/tpm_config.h"

namespace authpolicy::cli {

std::optional<authpolicy::Settings> common_tpm_settings() {
  return load_common_settings("tpm");
}

namespace {

using namespace authpolicy::tpm;

const char* const kUsage =
    "usage: authpolicy pin setup|change|delete|test|status [USER] [--json] [--tcti STRING]\n"
    "                      [--max-attempts N]   (setup only)\n"
    "PINs are read from the terminal without echo, or one per line from standard input.\n";

struct Options {
  std::string command;
  std::optional<std::string> user;  // none or empty: the caller
  bool json = false;
  std::optional<std::string> tcti;
  std::optional<std::int64_t> max_attempts;
};

// Reads the arguments into `options`; an exit code when the command is not to run (after
// --help, or a usage error).
std::optional<int> read_pin_arguments(const std::vector<std::string>& args, std::ostream& out,
                                      std::ostream& err, Options& options) {
  return read_arguments(
      args, {"pin", kUsage, true}, out, err,
      [&](ArgReader& reader) {
        if (reader.is("--json")) {
          options.json = true;
        } else if (reader.is("--tcti")) {
          options.tcti = reader.value();
        } else if (reader.is("--max-attempts")) {
          options.max_attempts = reader.whole_number(1, tpm::kMaxPinAttempts);
        } else {
          return false;
        }
        return true;
      },
      [&](const std::string& word) {
        take_sub_command_or_user(options.command, options.user, word,
                                 {"setup", "change", "delete", "test", "status"});
      },
      [&] {
        if (options.command.empty()) throw UsageError("missing sub-command");
        if (options.max_attempts && options.command != "setup") {
          throw UsageError("--max-attempts is for setup");
        }
      });
}

// One result of a command, printed as a sentence or as one JSON object.
struct Report {
  std::string user;
  std::string command;
  std::string result;  // ok, correct, wrong, locked, not_enrolled, tampered, error, refused
  std::optional<bool> enrolled;
  std::optional<PinCounter> counter;
  std::string message;

  int print(std::ostream& out, std::ostream& err, bool json, int code) const {
    if (json) {
      out << "{\"user\":" << json_string(user) << ",\"command\":" << json_string(command)
          << ",\"result\":" << json_string(result);
      if (enrolled) out << ",\"enrolled\":" << (*enrolled ? "true" : "false");
      if (counter) {
        out << ",\"attempts_used\":" << counter->used << ",\"attempt_limit\":" << counter->limit
            << ",\"locked\":" << (counter->locked() ? "true" : "false");
      }
      out << ",\"message\":" << json_string(message) << "}\n";
      return code;
    }
    (code == kExitOk ? out : err) << message << "\n";
    return code;
  }
};

std::string counter_text(const PinCounter& counter) {
  return std::to_string(counter.used) + " of " + std::to_string(counter.limit) + " attempts used";
}

std::string locked_message(const std::string& user, const std::optional<PinCounter>& counter) {
  std::string text = "PIN locked for " + user;
  if (counter) text += " (" + counter_text(*counter) + ")";
  return text + ": too many wrong attempts. Root resets it with `authpolicy pin delete " + user +
         "` and `authpolicy pin setup " + user + "`.";
}

// Everything a sub-command needs, resolved once.
struct Context {
  Options options;
  std::string user;
  uid_t uid = 0;
  bool caller_is_root = false;
  TpmConfig config;
  PinInput* input = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;

  Report report(std::string result, std::string message) const {
    Report r;
    r.user = user;
    r.command = options.command;
    r.result = std::move(result);
    r.message = std::move(message);
    return r;
  }
  int finish(const Report& r, int code) const { return r.print(*out, *err, options.json, code); }
  // The store could not answer (its invalid_request, config_error or tpm_error states).
  int tpm_trouble(const std::string& reason) const {
    return finish(report("error", "TPM error: " + reason), kExitTrouble);
  }
  int no_pin() const {
    return finish(report("not_enrolled", "No PIN set up for " + user + "."), kExitTrouble);
  }
  // An index at the user's place that PIN setup did not make: change and delete leave it alone.
  int not_a_pin_index() const {
    return finish(report("error", "The NV index of " + user + " is not a PIN index; left alone."),
                  kExitTrouble);
  }
};

bool failed(PinStatus::State state) {
  return state == PinStatus::State::invalid_request || state == PinStatus::State::config_error ||
         state == PinStatus::State::tpm_error;
}

// Reads a new PIN (twice on a terminal) and checks it against the rules.
std::optional<SecretString> read_new_pin(Context& ctx, const PinRules& rules,
                                         std::string& problem) {
  auto pin = ctx.input->read_pin("New PIN: ");
  if (!pin) {
    problem = "no PIN given";
    return std::nullopt;
  }
  if (auto violation = pin_rule_violation(rules, pin->view())) {
    problem = *violation;
    return std::nullopt;
  }
  if (ctx.input->interactive()) {
    auto again = ctx.input->read_pin("Repeat new PIN: ");
    if (!again || again->view() != pin->view()) {
      problem = "the PINs differ";
      return std::nullopt;
    }
  }
  return pin;
}

// Checks the caller's current PIN (non-root change/delete). Returns an exit code on failure.
std::optional<int> require_current_pin(Context& ctx, PinStore& store) {
  auto pin = ctx.input->read_pin("Current PIN: ");
  if (!pin) return ctx.finish(ctx.report("error", "no PIN given"), kExitTrouble);
  const VerifyOutcome outcome = store.verify(ctx.uid, *pin);
  switch (outcome.result) {
    case VerifyResult::correct:
      return std::nullopt;
    case VerifyResult::wrong:
      return ctx.finish(ctx.report("wrong", "Wrong PIN."), kExitRefused);
    case VerifyResult::locked:
      return ctx.finish(ctx.report("locked", locked_message(ctx.user, outcome.counter)),
                        kExitRefused);
    case VerifyResult::not_enrolled:
      return ctx.no_pin();
    case VerifyResult::tampered:
      return ctx.finish(ctx.report("tampered", "The PIN index of " + ctx.user + " was altered (" +
                                                   outcome.reason + "); root must delete it."),
                        kExitTrouble);
    case VerifyResult::invalid_request:
    case VerifyResult::config_error:
    case VerifyResult::tpm_error:
      return ctx.tpm_trouble(outcome.reason);
  }
  return kExitTrouble;
}

int do_setup(Context& ctx) {
  PinRules rules;
  if (ctx.options.max_attempts)
    rules.max_attempts = static_cast<std::uint32_t>(*ctx.options.max_attempts);
  PinStore store(ctx.config);
  const PinStatus status = store.status(ctx.uid);
  if (failed(status.state)) return ctx.tpm_trouble(status.reason);
  if (status.state != PinStatus::State::not_enrolled) {
    return ctx.finish(ctx.report("error", ctx.user + " already has a PIN; use `authpolicy pin "
                                                     "change` or `delete`."),
                      kExitTrouble);
  }
  std::string problem;
  auto pin = read_new_pin(ctx, rules, problem);
  if (!pin) return ctx.finish(ctx.report("error", problem), kExitTrouble);
  const SetupOutcome setup = store.setup(ctx.uid, *pin, rules.max_attempts);
  if (setup.result == SetupResult::already_enrolled) {
    return ctx.finish(ctx.report("error", ctx.user + " already has a PIN."), kExitTrouble);
  }
  if (setup.result != SetupResult::created) return ctx.tpm_trouble(setup.reason);
  Report r = ctx.report(
      "ok", "PIN set for " + ctx.user + " (" + std::to_string(rules.max_attempts) + " attempts).");
  r.enrolled = true;
  r.counter = PinCounter{0, rules.max_attempts};
  return ctx.finish(r, kExitOk);
}

int do_change(Context& ctx) {
  PinStore store(ctx.config);
  const PinStatus status = store.status(ctx.uid);
  if (failed(status.state)) return ctx.tpm_trouble(status.reason);
  if (status.state == PinStatus::State::not_enrolled) {
    return ctx.no_pin();
  }
  if (!ctx.caller_is_root) {
    if (auto code = require_current_pin(ctx, store)) return *code;
  }
  PinRules rules;
  if (status.counter) rules.max_attempts = status.counter->limit;
  std::string problem;
  auto pin = read_new_pin(ctx, rules, problem);
  if (!pin) return ctx.finish(ctx.report("error", problem), kExitTrouble);
  // The authValue of a PinFail index cannot be changed in place: replace the index.
  const DeleteOutcome removed = store.remove(ctx.uid);
  switch (removed.result) {
    case DeleteResult::deleted:
    case DeleteResult::not_enrolled:  // gone meanwhile: the new PIN is set up below all the same
      break;
    case DeleteResult::not_a_pin_index:  // nothing replaced, so nothing may be reported changed
      return ctx.not_a_pin_index();
    case DeleteResult::invalid_request:
    case DeleteResult::config_error:
    case DeleteResult::tpm_error:
      return ctx.tpm_trouble(removed.reason);
  }
  const SetupOutcome setup = store.setup(ctx.uid, *pin, rules.max_attempts);
  if (setup.result == SetupResult::already_enrolled) {
    // Another setup took the index between the delete and this one: it holds its PIN, not ours.
    return ctx.finish(ctx.report("error", "Another PIN was set up for " + ctx.user +
                                              " while this one was changed; the new PIN is not "
                                              "set. See `authpolicy pin status`."),
                      kExitTrouble);
  }
  if (setup.result != SetupResult::created) {
    return ctx.finish(ctx.report("error", "TPM error: " + setup.reason +
                                              "; the old PIN is deleted, run `authpolicy pin "
                                              "setup` again."),
                      kExitTrouble);
  }
  Report r = ctx.report("ok", "PIN changed for " + ctx.user + ".");
  r.enrolled = true;
  r.counter = PinCounter{0, rules.max_attempts};
  return ctx.finish(r, kExitOk);
}

int do_delete(Context& ctx) {
  PinStore store(ctx.config);
  if (!ctx.caller_is_root) {
    const PinStatus status = store.status(ctx.uid);
    if (failed(status.state)) return ctx.tpm_trouble(status.reason);
    if (status.state == PinStatus::State::not_enrolled) {
      return ctx.no_pin();
    }
    if (auto code = require_current_pin(ctx, store)) return *code;
  }
  const DeleteOutcome removed = store.remove(ctx.uid);
  switch (removed.result) {
    case DeleteResult::deleted: {
      Report r = ctx.report("ok", "PIN deleted for " + ctx.user + ".");
      r.enrolled = false;
      return ctx.finish(r, kExitOk);
    }
    case DeleteResult::not_enrolled:
      return ctx.no_pin();
    case DeleteResult::not_a_pin_index:
      return ctx.not_a_pin_index();
    case DeleteResult::invalid_request:
    case DeleteResult::config_error:
    case DeleteResult::tpm_error:
      return ctx.tpm_trouble(removed.reason);
  }
  return kExitTrouble;
}

std::unique_ptr<PinBackend> backend_for(const Context& ctx) {
  HelperOptions helper{built_in_helper_path(), {}, std::chrono::milliseconds(30000)};
  return choose_pin_backend(BackendChoice::automatic, ctx.config, helper);
}

int report_status(Context& ctx, const PinStatus& status) {
  switch (status.state) {
    case PinStatus::State::invalid_request:
    case PinStatus::State::config_error:
    case PinStatus::State::tpm_error:
      return ctx.tpm_trouble(status.reason);
    case PinStatus::State::not_enrolled: {
      Report r = ctx.report("not_enrolled", ctx.user + ": no PIN set up.");
      r.enrolled = false;
      return ctx.finish(r, ctx.options.command == "status" ? kExitOk : kExitTrouble);
    }
    case PinStatus::State::tampered: {
      Report r = ctx.report("tampered", ctx.user + ": the PIN index was altered (" + status.reason +
                                            "); it is not used. Root: delete it and set up again.");
      r.enrolled = true;
      return ctx.finish(r, kExitTrouble);
    }
    case PinStatus::State::enrolled:
      break;
  }
  Report r = ctx.report(status.counter && status.counter->locked() ? "locked" : "ok", "");
  r.enrolled = true;
  r.counter = status.counter;
  if (!status.counter) {
    r.message = ctx.user + ": PIN set up (attempt counter unreadable without the owner password).";
  } else if (status.counter->locked()) {
    r.message = ctx.user + ": PIN set up, locked (" + counter_text(*status.counter) + ").";
  } else {
    r.message = ctx.user + ": PIN set up, " + counter_text(*status.counter) + ", not locked.";
  }
  return ctx.finish(r, kExitOk);
}

int do_status(Context& ctx) {
  return report_status(ctx, backend_for(ctx)->status(ctx.uid));
}

int do_test(Context& ctx) {
  auto backend = backend_for(ctx);
  const PinStatus status = backend->status(ctx.uid);
  // Not enrolled, tampered, unreadable or already locked: say so without asking for the PIN.
  if (status.state != PinStatus::State::enrolled) return report_status(ctx, status);
  if (status.counter && status.counter->locked()) {
    Report r = ctx.report("locked", locked_message(ctx.user, status.counter));
    r.enrolled = true;
    r.counter = status.counter;
    return ctx.finish(r, kExitRefused);
  }
  auto pin = ctx.input->read_pin("PIN: ");
  if (!pin) return ctx.finish(ctx.report("error", "no PIN given"), kExitTrouble);
  if (pin->empty() || pin->size() > kMaxPinBytes) {
    return ctx.finish(ctx.report("error", "a PIN has 1 to 32 bytes"), kExitTrouble);
  }
  const VerifyOutcome outcome = backend->verify(ctx.uid, *pin);
  pin->wipe();
  Report r;
  int code = kExitTrouble;
  switch (outcome.result) {
    case VerifyResult::correct:
      r = ctx.report("correct", "PIN correct.");
      code = kExitOk;
      break;
    case VerifyResult::wrong:
      r = ctx.report(
          "wrong",
          outcome.counter && outcome.counter->locked()
              ? "Wrong PIN. " + locked_message(ctx.user, outcome.counter)
              : "Wrong PIN" + (outcome.counter ? " (" + counter_text(*outcome.counter) + ")."
                                               : std::string(".")));
      code = kExitRefused;
      break;
    case VerifyResult::locked:
      r = ctx.report("locked", locked_message(ctx.user, outcome.counter));
      code = kExitRefused;
      break;
    case VerifyResult::not_enrolled:
      return report_status(ctx, PinStatus{});
    case VerifyResult::tampered: {
      PinStatus tampered;
      tampered.state = PinStatus::State::tampered;
      tampered.reason = outcome.reason;
      return report_status(ctx, tampered);
    }
    case VerifyResult::invalid_request:
    case VerifyResult::config_error:
    case VerifyResult::tpm_error:
      return ctx.tpm_trouble(outcome.reason);
  }
  r.enrolled = true;
  r.counter = outcome.counter;
  return ctx.finish(r, code);
}

std::optional<std::pair<std::string, uid_t>> lookup_user(const std::string& name) {
  const UserLookup found = find_user(name);
  if (!found.found()) return std::nullopt;
  return std::make_pair(found.account.name, found.account.uid);
}

std::optional<std::string> name_of_uid(uid_t uid) {
  const UserLookup found = find_user(uid);
  if (!found.found()) return std::nullopt;
  return found.account.name;
}

}  // namespace

StdinPinInput::StdinPinInput(std::ostream& prompt_stream)
    : prompt_stream_(prompt_stream), interactive_(::isatty(STDIN_FILENO) == 1) {}

std::optional<SecretString> StdinPinInput::read_pin(std::string_view prompt) {
  termios saved{};
  const bool echo_off = interactive_ && ::tcgetattr(STDIN_FILENO, &saved) == 0;
  if (interactive_) prompt_stream_ << prompt << std::flush;
  if (echo_off) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  // Byte by byte from the descriptor: no stdio buffer keeps a copy of the PIN or reads ahead
  // into the next line.
  char line[kMaxPinBytes + 2];
  std::size_t used = 0;
  bool got_any = false;
  bool overflow = false;
  for (;;) {
    char c;
    const ssize_t got = ::read(STDIN_FILENO, &c, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    got_any = true;
    if (c == '\n') break;
    if (used < sizeof line) {
      line[used++] = c;
    } else {
      overflow = true;
    }
  }
  if (echo_off) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  if (used > 0 && line[used - 1] == '\r') --used;
  std::optional<SecretString> pin;
  if (got_any && !overflow && used <= kMaxPinBytes) pin.emplace(std::string_view(line, used));
  secure_wipe(line, sizeof line);
  return pin;
}

int run_pin_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                    PinInput& input) {
  Context ctx;
  if (auto code = read_pin_arguments(args, out, err, ctx.options)) return *code;
  ctx.input = &input;
  ctx.out = &out;
  ctx.err = &err;
  const uid_t caller = ::getuid();
  ctx.caller_is_root = caller == 0;
  const auto caller_name = name_of_uid(caller);
  const std::string wanted =
      ctx.options.user.value_or("").empty() ? caller_name.value_or("") : *ctx.options.user;
  ctx.user = wanted;
  const auto target = wanted.empty() ? std::nullopt : lookup_user(wanted);
  if (!target) return ctx.finish(ctx.report("error", "unknown user " + wanted), kExitTrouble);
  ctx.uid = target->second;
  if (!ctx.caller_is_root && ctx.uid != caller) {
    return ctx.finish(ctx.report("refused", "only root may manage another user's PIN"),
                      kExitTrouble);
  }
  Settings tpm_settings = common_tpm_settings().value_or(Settings{});
  if (ctx.options.tcti) tpm_settings.set("tcti", *ctx.options.tcti);
  std::string problem;
  auto config = tpm_config_from_settings(tpm_settings, &problem);
  if (!config) return ctx.tpm_trouble(problem);
  ctx.config = std::move(*config);
  if (!nv_index_for_uid(ctx.config.nv_base, ctx.uid)) {
    return ctx.finish(ctx.report("error", uid_text(ctx.uid) + " is outside the TPM NV index range"),
                      kExitTrouble);
  }
  const std::string& command = ctx.options.command;
  if (command == "setup") return do_setup(ctx);
  if (command == "change") return do_change(ctx);
  if (command == "delete") return do_delete(ctx);
  if (command == "test") return do_test(ctx);
  return do_status(ctx);
}

int run_pin_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  StdinPinInput input(err);
  return run_pin_command(args, out, err, input);
}

// enrolled(pin) in eval and status: the reader factor_pin.so answers with in the module.
static const RegisterEnrolmentReader register_pin_enrolment{"pin", read_pin_enrolment};

static const RegisterCommand register_pin{
    "pin", "manage TPM PINs (setup, change, delete, test, status)",
    [](const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
      return run_pin_command(args, out, err);
    }};

}  // namespace authpolicy::cli
