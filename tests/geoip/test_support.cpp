// Writing the test databases with MaxMind's writer, and running peer tools without a shell.
#include "tests/geoip/test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <mutex>

extern char** environ;

namespace authpolicy::geoip_test {
namespace {

std::vector<std::string>& temp_dirs() {
  static std::vector<std::string>* dirs = new std::vector<std::string>;
  return *dirs;
}

void remove_temp_dirs() {
  for (const std::string& dir : temp_dirs()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
}

// Reads both pipes until the program closes them, so neither can fill up and block it.
void drain(int out_fd, int err_fd, std::string* out, std::string* err) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {out, err};
  int open_count = 2;
  while (open_count > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
      if (got > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(got));
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      close(fds[i].fd);
      fds[i].fd = -1;
      --open_count;
    }
  }
}

}  // namespace

std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string folders = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= folders.size()) {
    std::size_t end = folders.find(':', start);
    if (end == std::string::npos) end = folders.size();
    std::string candidate = folders.substr(start, end - start) + "/" + name;
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

ProgramResult run_program(const std::vector<std::string>& argv) {
  ProgramResult result;
  if (argv.empty()) return result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (spawned != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return result;
  }
  result.started = true;
  drain(out_pipe[0], err_pipe[0], &result.out, &result.err);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string make_temp_dir() {
  static std::once_flag registered;
  std::call_once(registered, [] { std::atexit(remove_temp_dirs); });
  std::string pattern = (std::filesystem::temp_directory_path() / "ap-geoip-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) return "";
  temp_dirs().push_back(pattern);
  return pattern;
}

std::string test_databases_dir(std::string* error) {
  static std::once_flag written;
  static std::string dir;
  static std::string failure;
  std::call_once(written, [] {
    const char* fixture_dir = std::getenv("AP_GEOIP_TEST_DB_DIR");
    if (fixture_dir != nullptr && *fixture_dir != '\0' &&
        std::filesystem::exists(std::filesystem::path(fixture_dir) / "complete")) {
      dir = fixture_dir;
      return;
    }
    std::optional<std::string> perl = find_program("perl");
    if (!perl) {
      failure = "perl is not installed (Debian package perl); it writes the test .mmdb files";
      return;
    }
    ProgramResult module = run_program({*perl, "-MMaxMind::DB::Writer::Tree", "-e", "1"});
    if (module.exit_code != 0) {
      failure =
          "perl module MaxMind::DB::Writer::Tree is missing (Debian package "
          "libmaxmind-db-writer-perl): " +
          module.err;
      return;
    }
    std::string out_dir = make_temp_dir();
    ProgramResult writer =
        run_program({*perl, AP_GEOIP_WRITER, "--batch", AP_GEOIP_SPEC, "--out-dir", out_dir});
    if (writer.exit_code != 0) {
      failure = std::string("write_mmdb.pl failed: ") + writer.err;
      return;
    }
    dir = out_dir;
  });
  if (dir.empty() && error != nullptr) *error = failure;
  return dir;
}

void GeoIpFilesTest::SetUp() {
  std::string error;
  dir_ = test_databases_dir(&error);
  ASSERT_FALSE(dir_.empty()) << error;
}

}  // namespace authpolicy::geoip_test
