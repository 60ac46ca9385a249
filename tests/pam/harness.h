// Running real libpam (under pam_wrapper) against pam_policy.so from a test: service files, policy
// files, scripted conversations, captured pam_syslog lines and child processes (pamtester).
#pragma once

#include <security/pam_appl.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace authpolicy::pam_test {

// Paths fixed by tests/pam/CMakeLists.txt.
struct Paths {
  static const char* module();        // pam_policy.so
  static const char* matrix();        // pam_matrix.so (stands in for pam_unix)
  static const char* wrapper_dir();   // folder of pam_matrix.so, pam_get_items.so, ...
  static const char* run_dir();       // policies and passdb files written by the tests
  static const char* service_dir();   // pam.d files generated at configure time
  static const char* policies_dir();  // the project's policies/
  static const char* pamtester();
};

// Writes a file owned by root with `mode` (policies must be root-owned and not group-writable).
void write_file(const std::string& path, const std::string& content, unsigned mode = 0644);
std::string read_file(const std::string& path);

// The user database pam_matrix reads: alice/alice-pass and bob/bob-pass for every service, and
// the stand-in fingerprint database (alice/alice-finger).
void write_passdbs();
std::string passdb_path();
std::string fingerdb_path();
// run/common.pol: where refusals for an unusable policy in run/ are logged (never the system's
// default log). write_passdbs() writes it.
void write_common_settings();

// `factor password` and (optionally) `factor fingerprint` lines that point at pam_matrix.
std::string matrix_password_factor();
std::string matrix_fingerprint_factor();

// Writes run/current.pol (the policy every `ap_policy*` service reads), creating run/shared/ with
// the project's shared includes.
void write_policy(const std::string& text, unsigned mode = 0644);
std::string current_policy_path();

// A conversation that answers from scripts and records every message it is shown.
struct Script {
  Script() = default;
  explicit Script(std::vector<std::string> secret_answers,
                  std::vector<std::string> visible_answers = {}, int fail = PAM_SUCCESS)
      : secrets(std::move(secret_answers)), visible(std::move(visible_answers)), fail_with(fail) {}

  std::vector<std::string> secrets;  // answers to PAM_PROMPT_ECHO_OFF, in order
  std::vector<std::string> visible;  // answers to PAM_PROMPT_ECHO_ON
  int fail_with = PAM_SUCCESS;       // when not PAM_SUCCESS, every call returns this code
  // What was shown: ("off"|"on"|"info"|"error", text).
  std::vector<std::pair<std::string, std::string>> shown;
  std::size_t secrets_used = 0;
  std::size_t visible_used = 0;
  std::vector<std::string> prompts() const;  // the echo-off/on prompts only
};

int scripted_conversation(int count, const pam_message** messages, pam_response** responses,
                          void* data);

// One PAM handle on a service, with the items a test wants set before the operations.
struct Session {
  Session(const std::string& service, const std::optional<std::string>& user, Script* script,
          bool no_conversation = false);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int set_item(int item, const char* value);
  int authenticate(int flags = 0);
  int setcred(int flags = PAM_ESTABLISH_CRED);
  int account(int flags = 0);
  std::optional<std::string> item(int item) const;  // PAM_AUTHTOK etc. (visible to modules only
                                                    // in real PAM; pam_wrapper lets tests see it)
  std::optional<std::string> env(const char* name) const;
  void unset_env(const char* name);

  pam_handle_t* handle = nullptr;
  int start_code = PAM_SYSTEM_ERR;
  pam_conv conversation{};
};

// Collects what modules send to pam_syslog while alive (pam_wrapper writes it to stderr).
class SyslogCapture {
 public:
  SyslogCapture();
  ~SyslogCapture();
  // The messages (without pam_wrapper's prefix) seen so far.
  std::vector<std::string> lines();
  // The messages the modules logged (pam_policy's, in these stacks).
  std::vector<std::string> module_lines();
  std::string all_text();

 private:
  int saved_stderr_ = -1;
  std::string path_;
};

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a program with extra environment variables and `input` on stdin.
ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& environment,
                          const std::string& input);

// Runs pamtester under pam_wrapper on the generated service folder.
ProcessResult run_pamtester(const std::vector<std::string>& arguments, const std::string& input);

// One login as `user` on the ap_policy service, answering its secret prompts with `answers` in
// order: the PAM code and the prompts shown.
std::pair<int, std::vector<std::string>> login(const std::string& user,
                                               std::vector<std::string> answers);

// The decisions in the audit log at `db`, oldest first, as `authpolicy audit --format json
// --limit 0 EXTRA...` lists them; a failing `authpolicy audit` is a test failure.
nlohmann::json audit_rows(const std::string& db, const std::vector<std::string>& extra = {});

// Open file descriptors of this process.
std::size_t open_fd_count();

}  // namespace authpolicy::pam_test
