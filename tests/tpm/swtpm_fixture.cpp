// Starting, watching and removing a private swtpm instance for tests.
#include "tests/tpm/swtpm_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

namespace authpolicy::testing {

namespace {

// Binds a loopback TCP socket to a port (0: any); returns the fd or -1.
int bind_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Returns a port P such that P and P+1 were both free a moment ago.
int pick_port_pair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int first = bind_loopback(0);
    if (first < 0) continue;
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ::getsockname(first, reinterpret_cast<sockaddr*>(&address), &length);
    const int port = ntohs(address.sin_port);
    const int second = port < 65535 ? bind_loopback(port + 1) : -1;
    ::close(first);
    if (second >= 0) {
      ::close(second);
      return port;
    }
  }
  throw std::runtime_error("swtpm fixture: no free pair of loopback ports");
}

bool accepts_connection(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t end = dirs.find(':', start);
    const std::string dir = dirs.substr(start, end == std::string::npos ? end : end - start);
    if (!dir.empty() && ::access((dir + "/" + tool).c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

}  // namespace

void require_tool(const std::string& tool, const std::string& package) {
  if (!on_path(tool)) {
    throw std::runtime_error(tool + " is not installed (Debian package " + package + ")");
  }
}

Swtpm::Swtpm() {
  require_tool("swtpm", "swtpm");
  char templ[] = "/tmp/ap-swtpm-XXXXXX";
  if (!::mkdtemp(templ)) throw std::runtime_error("swtpm fixture: mkdtemp failed");
  state_dir_ = templ;
  // The chosen ports may be taken between the check and swtpm's bind: try again on a new pair.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (start_on_free_port()) return;
  }
  std::error_code ignored;
  std::filesystem::remove_all(state_dir_, ignored);
  throw std::runtime_error("swtpm fixture: swtpm did not start (see its log in the state dir)");
}

bool Swtpm::start_on_free_port() {
  port_ = pick_port_pair();
  const std::string server = "type=tcp,port=" + std::to_string(port_) + ",bindaddr=127.0.0.1";
  const std::string ctrl = "type=tcp,port=" + std::to_string(port_ + 1) + ",bindaddr=127.0.0.1";
  const std::string state = "dir=" + state_dir_.string();
  const std::string log = "file=" + (state_dir_ / "swtpm.log").string();
  std::vector<std::string> args = {"swtpm",
                                   "socket",
                                   "--tpm2",
                                   "--server",
                                   server,
                                   "--ctrl",
                                   ctrl,
                                   "--tpmstate",
                                   state,
                                   "--log",
                                   log,
                                   "--flags",
                                   "not-need-init,startup-clear"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // fork + exec rather than posix_spawn: the child asks to be killed when the test process dies,
  // so a crashed or timed-out test leaves no swtpm behind.
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("swtpm fixture: fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(127);
    const int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(null_fd, STDOUT_FILENO);
      ::dup2(null_fd, STDERR_FILENO);
    }
    ::execvp("swtpm", argv.data());
    _exit(127);
  }

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;  // exited: most likely the port was taken
      return false;
    }
    if (accepts_connection(port_)) {
      tcti_ = "swtpm:host=127.0.0.1,port=" + std::to_string(port_);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop();
  return false;
}

void Swtpm::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void Swtpm::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

void Swtpm::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void Swtpm::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  kill();
}

Swtpm::~Swtpm() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(state_dir_, ignored);
}

int run_tpm2_tool(const std::string& tcti, const std::string& command, std::string* output) {
  // The tool runs without what a test program preloads into itself: under pam_wrapper and
  // AddressSanitizer (tests/pam), tpm2_nvdefine with libasan and libpam_wrapper preloaded hung
  // in a futex wait until ctest's timeout.
  const std::string line = "unset LD_PRELOAD PAM_WRAPPER; export TPM2TOOLS_TCTI='" + tcti +
                           "' TSS2_LOG=all+NONE; (" + command + ") 2>&1";
  FILE* pipe = ::popen(line.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string text;
  std::array<char, 512> buffer{};
  std::size_t got;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    text.append(buffer.data(), got);
  const int status = ::pclose(pipe);
  if (output) *output = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace authpolicy::testing
