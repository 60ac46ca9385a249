// A private swtpm for one test: free loopback port, temporary state folder, killed on teardown.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace authpolicy::testing {

// Starts `swtpm socket --tpm2 --flags not-need-init,startup-clear` on 127.0.0.1 (data port P,
// control port P+1) and waits until it accepts a connection. Throws std::runtime_error naming the
// missing tool or the failure. Each instance is independent, so tests need no lock between them.
class Swtpm {
 public:
  Swtpm();
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;
  ~Swtpm();

  // "swtpm:host=127.0.0.1,port=P" for ESAPI and for tpm2-tools' --tcti / TPM2TOOLS_TCTI.
  const std::string& tcti() const { return tcti_; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::filesystem::path& state_dir() const { return state_dir_; }

  void pause();   // SIGSTOP: the TPM stops answering but keeps its sockets
  void resume();  // SIGCONT
  void kill();    // SIGKILL and reap; the sockets close

 private:
  bool start_on_free_port();
  void stop();

  std::filesystem::path state_dir_;
  std::string tcti_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Runs a command line through /bin/sh with TPM2TOOLS_TCTI set to the given TCTI; returns the exit
// status and fills output with stdout+stderr. For tpm2-tools as the independent peer.
int run_tpm2_tool(const std::string& tcti, const std::string& command, std::string* output);

// Throws std::runtime_error naming the tool when it is not on PATH.
void require_tool(const std::string& tool, const std::string& package);

}  // namespace authpolicy::testing
