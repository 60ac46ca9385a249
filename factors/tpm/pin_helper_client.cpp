// Spawning authpolicy-pin-helper: PIN through a pipe filled before fork, bounded wait, exit code.
#include "factors/tpm/pin_helper_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace authpolicy::tpm {

namespace {

// Closes both ends of a pipe when the scope ends.
struct PipePair {
  int fd[2] = {-1, -1};
  ~PipePair() {
    for (int& f : fd) {
      if (f >= 0) ::close(f);
    }
  }
  void close_end(int which) {
    if (fd[which] >= 0) ::close(fd[which]);
    fd[which] = -1;
  }
};

// Makes waitpid work even when the host process ignores SIGCHLD (children would be reaped
// automatically and waitpid would fail); restores the host's disposition afterwards.
class ChildSignalDefault {
 public:
  ChildSignalDefault() {
    struct sigaction deflt {};
    deflt.sa_handler = SIG_DFL;
    sigemptyset(&deflt.sa_mask);
    restore_ = ::sigaction(SIGCHLD, &deflt, &saved_) == 0;
  }
  ~ChildSignalDefault() {
    if (restore_) ::sigaction(SIGCHLD, &saved_, nullptr);
  }

 private:
  struct sigaction saved_ {};
  bool restore_ = false;
};

std::optional<std::uint32_t> parse_u32(std::string_view text) {
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

void parse_reply(const std::string& output, HelperReply& reply) {
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    const std::string_view line(output.data() + start, end - start);
    if (line.rfind("used=", 0) == 0) reply.used = parse_u32(line.substr(5));
    if (line.rfind("limit=", 0) == 0) reply.limit = parse_u32(line.substr(6));
    if (line.rfind("reason=", 0) == 0) reply.reason = std::string(line.substr(7));
    start = end + 1;
  }
}

}  // namespace

const char* built_in_helper_path() noexcept {
#ifdef AUTHPOLICY_PIN_HELPER_PATH
  return AUTHPOLICY_PIN_HELPER_PATH;
#else
  return "/usr/libexec/authpolicy/pin-helper";
#endif
}

std::optional<HelperReply> run_pin_helper(const HelperOptions& options, const std::string& mode,
                                          uid_t uid, const SecretString* pin, std::string* error) {
  // Everything the child needs is prepared before fork: only async-signal-safe calls follow it.
  std::string uid_text = std::to_string(uid);
  std::vector<char*> argv = {const_cast<char*>(options.path.c_str()),
                             const_cast<char*>(mode.c_str()), uid_text.data(), nullptr};
  std::vector<std::string> environment = options.environment;
  std::vector<char*> envp;
  for (auto& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);

  PipePair input, output;
  if (::pipe2(input.fd, O_CLOEXEC) != 0 || ::pipe2(output.fd, O_CLOEXEC) != 0) {
    *error = "pin helper: cannot create pipes";
    return std::nullopt;
  }
  // The PIN fits in the pipe buffer: writing it before fork means no SIGPIPE can reach the host
  // if the helper dies early, and the write end is closed before the child can wait on it.
  if (pin && !pin->empty()) {
    const ssize_t wrote = ::write(input.fd[1], pin->view().data(), pin->size());
    if (wrote != static_cast<ssize_t>(pin->size())) {
      *error = "pin helper: cannot pass the PIN";
      return std::nullopt;
    }
  }
  input.close_end(1);

  ChildSignalDefault child_signal;
  const pid_t child = ::fork();
  if (child < 0) {
    *error = "pin helper: fork failed";
    return std::nullopt;
  }
  if (child == 0) {
    if (::dup2(input.fd[0], STDIN_FILENO) < 0 || ::dup2(output.fd[1], STDOUT_FILENO) < 0)
      _exit(127);
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDERR_FILENO);
    // The host (sudo, a screen locker) may hold descriptors without O_CLOEXEC: keep them out.
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  input.close_end(0);
  output.close_end(1);

  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool timed_out = false;
  while (text.size() < 4096) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd watch{output.fd[0], POLLIN, 0};
    const int ready = ::poll(&watch, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = ready == 0;
      break;
    }
    char buffer[512];
    const ssize_t got = ::read(output.fd[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  if (timed_out) ::kill(child, SIGKILL);
  int status = 0;
  pid_t waited;
  do {
    waited = ::waitpid(child, &status, 0);
  } while (waited < 0 && errno == EINTR);
  if (timed_out) {
    *error = "pin helper: no answer in time";
    return std::nullopt;
  }
  if (waited != child || !WIFEXITED(status)) {
    *error = "pin helper: crashed";
    return std::nullopt;
  }
  const int code = WEXITSTATUS(status);
  if (code == 127) {
    *error = "pin helper: cannot run " + options.path;
    return std::nullopt;
  }
  if (code < 0 || code > static_cast<int>(HelperExit::usage)) {
    *error = "pin helper: unexpected exit code " + std::to_string(code);
    return std::nullopt;
  }
  HelperReply reply;
  reply.exit = static_cast<HelperExit>(code);
  parse_reply(text, reply);
  return reply;
}

}  // namespace authpolicy::tpm
