// `authpolicy u2f enroll|list|remove`: a thin front end over factors/u2f.
#include "cli/u2f_command.h"

#include <fcntl.h>
#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <string_view>
#include <thread>

#include "base/json_text.h"
#include "base/user_lookup.h"
#include "cli/args.h"
#include "cli/command_registry.h"
#include "factors/u2f/authfile.h"
#include "factors/u2f/enroll.h"
#include "factors/u2f/u2f_provider.h"

namespace authpolicy::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: authpolicy u2f enroll [USER] [--authfile F] [--origin O] [--resident] [--pin]\n"
    "                             [--verification] [--no-presence] [--timeout SECONDS]\n"
    "       authpolicy u2f list [USER] [--authfile F] [--json]\n"
    "       authpolicy u2f remove USER [--authfile F] (--key-handle KH | --all)\n"
    "F defaults to /etc/authpolicy/u2f_keys; %u in F is the user name.\n"
    "O must equal the policy's `factor u2f { origin = ... }` (default pam://<hostname>).\n";

struct Options {
  std::string command;
  std::optional<std::string> user;
  std::string authfile = U2fOptions{}.authfile;
  std::optional<std::string> origin;
  std::optional<std::string> key_handle;
  bool all = false;
  bool json = false;
  bool resident = false;
  bool pin = false;
  bool verification = false;
  bool presence = true;
  std::chrono::seconds timeout{30};
};

// Reads the arguments after "u2f" into `o`; an exit code when the command is not to run (after
// --help, or a usage error).
std::optional<int> read_u2f_arguments(const std::vector<std::string>& args, std::ostream& out,
                                      std::ostream& err, Options& o) {
  // A file name, origin or key handle cannot be empty.
  auto text = [](ArgReader& reader) {
    std::string v = reader.value();
    if (v.empty()) throw UsageError(reader.flag() + " needs a value");
    return v;
  };
  const std::pair<std::string_view, bool Options::*> flags[] = {
      {"--all", &Options::all},
      {"--json", &Options::json},
      {"--resident", &Options::resident},
      {"--pin", &Options::pin},
      {"--verification", &Options::verification}};
  return read_arguments(
      args, {"u2f", kUsage, true}, out, err,
      [&](ArgReader& reader) {
        if (reader.is("--authfile")) {
          o.authfile = text(reader);
        } else if (reader.is("--origin")) {
          o.origin = text(reader);
        } else if (reader.is("--key-handle")) {
          o.key_handle = text(reader);
        } else if (reader.is("--timeout")) {
          o.timeout = std::chrono::seconds(reader.whole_number(1, std::numeric_limits<int>::max(),
                                                               "a positive number of seconds"));
        } else if (reader.is("--no-presence")) {
          o.presence = false;
        } else {
          for (const auto& [name, member] : flags) {
            if (reader.is(name)) {
              o.*member = true;
              return true;
            }
          }
          return false;
        }
        return true;
      },
      [&](const std::string& word) {
        take_sub_command_or_user(o.command, o.user, word, {"enroll", "list", "remove"});
      },
      [&] {
        if (o.command.empty()) throw UsageError("missing sub-command");
        if (o.user && (o.user->empty() || o.user->find_first_of(":, \t\n/") != std::string::npos))
          throw UsageError("'" + *o.user + "' is not a user name that fits an authfile line");
      });
}

std::optional<std::string> current_user() {
  const UserLookup found = find_user(::getuid());
  if (!found.found()) return std::nullopt;
  return found.account.name;
}

// Prompts on the terminal itself, so a PIN never goes through redirected streams.
class TerminalConversation final : public Conversation {
 public:
  explicit TerminalConversation(std::ostream& out) : out_(out) {}
  std::optional<SecretString> ask_secret(std::string_view prompt) override {
    const int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    struct termios saved {};
    const bool is_tty = ::tcgetattr(fd, &saved) == 0;
    if (is_tty) {
      struct termios quiet = saved;
      quiet.c_lflag &= ~tcflag_t(ECHO);
      ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    (void)!::write(fd, prompt.data(), prompt.size());
    SecretString answer;
    std::string buffer;
    buffer.reserve(256);
    char c = 0;
    bool ok = false;
    while (buffer.size() < 255) {
      const ssize_t n = ::read(fd, &c, 1);
      if (n <= 0) break;
      if (c == '\n') {
        ok = true;
        break;
      }
      buffer.push_back(c);
    }
    if (is_tty) ::tcsetattr(fd, TCSAFLUSH, &saved);
    (void)!::write(fd, "\n", 1);
    ::close(fd);
    answer.assign(buffer);
    secure_wipe(buffer.data(), buffer.capacity());
    if (!ok) return std::nullopt;
    return answer;
  }
  std::optional<std::string> ask_visible(std::string_view) override { return std::nullopt; }
  void info(std::string_view text) override { out_ << text << std::endl; }
  void error(std::string_view text) override { out_ << text << std::endl; }

 private:
  std::ostream& out_;
};

int run_list(const Options& o, std::ostream& out, std::ostream& err) {
  if (!o.user && o.authfile.find("%u") != std::string::npos) {
    err << "authpolicy u2f list: " << o.authfile << " has %u; name a user\n";
    return kExitTrouble;
  }
  const auto path = u2f::expand_authfile_path(o.authfile, o.user.value_or(""));
  if (!path) {
    err << "authpolicy u2f list: cannot use " << o.authfile << " for that user\n";
    return kExitTrouble;
  }
  auto content = u2f::read_authfile(*path, o.user ? u2f::uid_of_user(*o.user) : std::nullopt);
  std::string warning;
  if (auto* problem = std::get_if<u2f::AuthfileReadError>(&content)) {
    if (problem->kind != u2f::AuthfileReadError::Kind::unsafe) {
      err << "authpolicy u2f list: " << problem->message << "\n";
      return kExitRefused;
    }
    // Show what is there, but say the factor will not use it.
    warning = problem->message + " (the u2f factor refuses this file)";
    err << "warning: " << warning << "\n";
    std::ifstream in(*path);
    std::string text;
    char buffer[4096];
    while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
      text.append(buffer, std::size_t(in.gcount()));
      if (text.size() > (1u << 20)) break;  // listing only; the factor has its own limit
    }
    content = std::move(text);
  }
  const u2f::Authfile file = u2f::parse_authfile(std::get<std::string>(content));
  auto shown = [&](const u2f::AuthfileLine& line) {
    return !o.user || line.user == *o.user || (line.user.empty() && line.error);
  };
  bool malformed = false;
  bool any_entry = false;
  for (const auto& line : file.lines)
    if (shown(line)) {
      malformed = malformed || (line.error && !line.superseded);
      any_entry = any_entry || (!line.error && !line.superseded);
    }

  if (o.json) {
    out << "{\"authfile\":" << json_string(*path);
    if (!warning.empty()) out << ",\"warning\":" << json_string(warning);
    out << ",\"entries\":[";
    bool first_line = true;
    for (const auto& line : file.lines) {
      if (!shown(line)) continue;
      out << (first_line ? "" : ",") << "{\"line\":" << line.line
          << ",\"user\":" << json_string(line.user)
          << ",\"superseded\":" << (line.superseded ? "true" : "false");
      first_line = false;
      if (line.error) {
        out << ",\"error\":" << json_string(*line.error) << "}";
        continue;
      }
      out << ",\"credentials\":[";
      for (std::size_t i = 0; i < line.credentials.size(); ++i) {
        const auto& c = line.credentials[i];
        out << (i ? "," : "") << "{\"key_handle\":" << json_string(c.key_handle_text)
            << ",\"resident\":" << (c.resident ? "true" : "false")
            << ",\"type\":" << json_string(u2f::to_string(c.type))
            << ",\"attributes\":" << json_string(c.attributes.to_string())
            << ",\"format\":" << json_string(u2f::to_string(c.format)) << "}";
      }
      out << "]}";
    }
    out << "]}\n";
  } else {
    for (const auto& line : file.lines) {
      if (!shown(line)) continue;
      if (line.error) {
        out << *path << ":" << line.line << ": malformed"
            << (line.user.empty() ? "" : " line for " + line.user) << ": " << *line.error
            << (line.superseded ? " (superseded by a later line)" : "") << "\n";
        continue;
      }
      if (line.superseded) {
        out << line.user << " (line " << line.line << "): superseded by a later line\n";
        continue;
      }
      out << line.user << " (line " << line.line << "): " << line.credentials.size()
          << (line.credentials.size() == 1 ? " credential\n" : " credentials\n");
      for (const auto& c : line.credentials)
        out << "  key handle " << c.key_handle_text << "\n    type " << u2f::to_string(c.type)
            << ", attributes "
            << (c.attributes.to_string().empty() ? "none" : c.attributes.to_string()) << ", format "
            << u2f::to_string(c.format) << "\n";
    }
  }
  if (o.user && !any_entry && !malformed) {
    err << *o.user << " has no credentials in " << *path << "\n";
    return kExitRefused;
  }
  return malformed ? kExitRefused : kExitOk;
}

int run_remove(const Options& o, std::ostream& out, std::ostream& err) {
  if (!o.user) {
    err << "authpolicy u2f remove: name the user\n" << kUsage;
    return kExitTrouble;
  }
  if (o.all == o.key_handle.has_value()) {
    err << "authpolicy u2f remove: give exactly one of --key-handle KH or --all\n";
    return kExitTrouble;
  }
  const auto path = u2f::expand_authfile_path(o.authfile, *o.user);
  if (!path) {
    err << "authpolicy u2f remove: cannot use " << o.authfile << " for that user\n";
    return kExitTrouble;
  }
  auto removed = u2f::remove_from_authfile(*path, *o.user, o.key_handle);
  if (auto* problem = std::get_if<std::string>(&removed)) {
    err << "authpolicy u2f remove: " << *problem << "\n";
    return kExitRefused;
  }
  const int n = std::get<int>(removed);
  out << "Removed " << n << (n == 1 ? " credential" : " credentials") << " of " << *o.user
      << " from " << *path << "\n";
  return kExitOk;
}

int run_enroll(const Options& o, std::ostream& out, std::ostream& err,
               const U2fCommandEnvironment& environment) {
  const auto user = o.user ? o.user : current_user();
  if (!user) {
    err << "authpolicy u2f enroll: cannot tell who you are; name the user\n";
    return kExitTrouble;
  }
  const auto path = u2f::expand_authfile_path(o.authfile, *user);
  if (!path) {
    err << "authpolicy u2f enroll: cannot use " << o.authfile << " for that user\n";
    return kExitTrouble;
  }
  const std::string origin = o.origin.value_or(default_u2f_origin());
  if (!o.origin)
    err << "note: no --origin given, using " << origin
        << "; set the same `origin` in the policy's factor u2f block, or a new host name will "
           "break this enrolment\n";

  // Existing credentials: refuse to build on a damaged line, and do not enroll a key twice.
  std::vector<u2f::Credential> existing;
  auto content = u2f::read_authfile(*path, u2f::uid_of_user(*user));
  if (auto* problem = std::get_if<u2f::AuthfileReadError>(&content)) {
    if (problem->kind != u2f::AuthfileReadError::Kind::missing) {
      err << "authpolicy u2f enroll: " << problem->message << "\n";
      return kExitRefused;
    }
  } else {
    const u2f::Authfile file = u2f::parse_authfile(std::get<std::string>(content));
    if (const auto* entry = file.entry_for(*user)) {
      if (entry->error) {
        err << "authpolicy u2f enroll: " << *path << ":" << entry->line << ": malformed line for "
            << *user << " (" << *entry->error << "); fix or remove it first\n";
        return kExitRefused;
      }
      existing = entry->credentials;
    }
  }

  std::shared_ptr<u2f::DeviceSource> devices =
      environment.devices ? environment.devices : u2f::make_system_device_source();
  TerminalConversation terminal(out);
  Conversation& conversation =
      environment.conversation ? *environment.conversation : static_cast<Conversation&>(terminal);

  std::vector<std::string> paths = devices->list();
  if (paths.empty()) conversation.info("Insert your security key");
  const auto give_up = std::chrono::steady_clock::now() + environment.wait_for_key;
  while (paths.empty() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    paths = devices->list();
  }
  if (paths.empty()) {
    err << "authpolicy u2f enroll: no security key found\n";
    return kExitRefused;
  }
  std::string open_error;
  u2f::FidoDevice device = devices->open(paths.front(), &open_error);
  if (!device) {
    err << "authpolicy u2f enroll: " << open_error << "\n";
    return kExitTrouble;
  }

  u2f::EnrollOptions enroll;
  enroll.user = *user;
  enroll.origin = origin;
  enroll.resident = o.resident;
  enroll.attributes = {o.presence, o.verification, o.pin};
  enroll.timeout = o.timeout;
  auto made = u2f::make_credential(device.get(), enroll, existing, conversation);
  device.reset();
  if (auto* problem = std::get_if<std::string>(&made)) {
    err << "authpolicy u2f enroll: " << *problem << "\n";
    return kExitRefused;
  }
  const auto& credential = std::get<u2f::Credential>(made);
  if (auto problem = u2f::add_to_authfile(*path, *user, credential)) {
    err << "authpolicy u2f enroll: " << *problem << "\n";
    return kExitTrouble;
  }
  out << "Enrolled a security key for " << *user << " in " << *path << " (key handle "
      << credential.key_handle_text << ", " << u2f::to_string(credential.type) << ", "
      << (credential.attributes.to_string().empty() ? "no attributes"
                                                    : credential.attributes.to_string())
      << ", origin " << origin << ")\n";
  return kExitOk;
}

}  // namespace

int run_u2f_with(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                 const U2fCommandEnvironment& environment) {
  try {
    Options o;
    if (auto code = read_u2f_arguments(args, out, err, o)) return *code;
    if (o.command == "list") return run_list(o, out, err);
    if (o.command == "remove") return run_remove(o, out, err);
    return run_enroll(o, out, err, environment);
  } catch (const std::exception& e) {
    err << "authpolicy u2f: " << e.what() << "\n";
    return kExitTrouble;
  }
}

int run_u2f(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return run_u2f_with(args, out, err, U2fCommandEnvironment{});
}

namespace {
const RegisterCommand register_u2f{"u2f", "enroll, list and remove security keys (pam_u2f format)",
                                   run_u2f};
}  // namespace

}  // namespace authpolicy::cli
