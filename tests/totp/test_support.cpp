// File helpers, child processes and a scripted conversation for totp tests.
#include "test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace totp_test {

void write_file(const std::string& path, const std::string& contents, mode_t mode) {
  unlink(path.c_str());
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
  ASSERT_EQ(fchmod(fd, mode), 0);
  close(fd);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input) {
  ProcessResult result;
  std::string found;
  for (const char* dir : {"/usr/bin", "/bin", "/usr/local/bin"}) {
    std::string candidate = std::string(dir) + "/" + argv[0];
    if (access(candidate.c_str(), X_OK) == 0) {
      found = candidate;
      break;
    }
  }
  if (found.empty()) {
    ADD_FAILURE() << "required tool '" << argv[0] << "' is not installed (Debian package "
                  << (argv[0] == "oathtool" ? "oathtool" : argv[0]) << ")";
    return result;
  }
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return result;
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(found.c_str(), args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!input.empty()) {
    ssize_t ignored = write(in_pipe[1], input.data(), input.size());
    (void)ignored;
  }
  close(in_pipe[1]);
  // Read both pipes until they close.
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  while (open_count > 0) {
    if (poll(fds, 2, 10000) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[4096];
      ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
      if (got <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      } else {
        sinks[i]->append(buffer, static_cast<std::size_t>(got));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string oathtool_totp(const std::string& hex_key, std::int64_t when,
                          authpolicy::totp::HashAlgorithm algorithm, int digits, int step) {
  std::string mode = "--totp=" + std::string(authpolicy::totp::algorithm_name(algorithm));
  // The key goes through stdin ("-") so it never shows in a process listing.
  ProcessResult run =
      run_process({"oathtool", mode, "-d", std::to_string(digits), "-s", std::to_string(step) + "s",
                   "-N", "@" + std::to_string(when), "-"},
                  hex_key + "\n");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  while (!run.out.empty() && (run.out.back() == '\n' || run.out.back() == '\r')) {
    run.out.pop_back();
  }
  return run.out;
}

std::string code_for(const std::string& base32_secret, std::int64_t when,
                     authpolicy::totp::HashAlgorithm algorithm, int digits, int step) {
  auto key = authpolicy::totp::base32_decode(base32_secret);
  if (!key) return {};
  auto counter = authpolicy::totp::time_step(when, step);
  return std::string(authpolicy::totp::hotp_code(*key, *counter, digits, algorithm).view());
}

std::string hex_of_base32(const std::string& base32_secret) {
  auto key = authpolicy::totp::base32_decode(base32_secret);
  if (!key) return {};
  return std::string(authpolicy::totp::hex_encode(key->data(), key->size()).view());
}

std::optional<authpolicy::SecretString> ScriptedConversation::ask_secret(std::string_view prompt) {
  secret_prompts.emplace_back(prompt);
  if (answers.empty()) return std::nullopt;
  std::optional<std::string> answer = answers.front();
  answers.pop_front();
  if (!answer) return std::nullopt;
  return authpolicy::SecretString(*answer);
}

std::optional<std::string> ScriptedConversation::ask_visible(std::string_view prompt) {
  visible_prompts.emplace_back(prompt);
  if (answers.empty()) return std::nullopt;
  std::optional<std::string> answer = answers.front();
  answers.pop_front();
  return answer;
}

}  // namespace totp_test
