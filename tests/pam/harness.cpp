// The real-libpam test harness: files, conversations, syslog capture and child processes.
#include "tests/pam/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace authpolicy::pam_test {

const char* Paths::module() {
  return AP_TEST_MODULE;
}
const char* Paths::matrix() {
  return AP_TEST_MATRIX;
}
const char* Paths::wrapper_dir() {
  return AP_TEST_WRAPPER_DIR;
}
const char* Paths::run_dir() {
  return AP_TEST_RUN_DIR;
}
const char* Paths::service_dir() {
  return AP_TEST_SERVICE_DIR;
}
const char* Paths::policies_dir() {
  return AP_TEST_POLICIES_DIR;
}
const char* Paths::pamtester() {
  return AP_TEST_PAMTESTER;
}

void write_file(const std::string& path, const std::string& content, unsigned mode) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + temporary);
    out << content;
  }
  if (chown(temporary.c_str(), 0, 0) != 0 || chmod(temporary.c_str(), mode) != 0) {
    throw std::runtime_error("cannot make " + temporary + " root-owned (run the tests as root)");
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string passdb_path() {
  return std::string(Paths::run_dir()) + "/passdb";
}
std::string fingerdb_path() {
  return std::string(Paths::run_dir()) + "/fingerdb";
}

void write_passdbs() {
  // pam_matrix: user:password:service, one line each; the services the tests use.
  std::string passdb, fingerdb;
  for (const char* service :
       {"ap_policy", "ap_debug", "ap_matrix_only", "ap_missing_ignore", "ap_missing_fail",
        "ap_setitems", "ap_authtok", "ap_setitems_policy", "ap_shadow", "ap_shadow_broken"}) {
    passdb += std::string("alice:alice-pass:") + service + "\n";
    passdb += std::string("bob:bob-pass:") + service + "\n";
    fingerdb += std::string("alice:alice-finger:") + service + "\n";
  }
  write_file(passdb_path(), passdb, 0600);
  write_file(fingerdb_path(), fingerdb, 0600);
  write_common_settings();
}

void write_common_settings() {
  write_file(std::string(Paths::run_dir()) + "/common.pol",
             "audit { db = \"" + std::string(Paths::run_dir()) + "/audit/common.db\" }\n");
}

std::string matrix_password_factor() {
  return std::string("factor password { module = \"") + Paths::matrix() +
         "\"; arguments = \"passdb=" + passdb_path() + "\" }\n";
}

std::string matrix_fingerprint_factor() {
  return std::string("factor fingerprint { module = \"") + Paths::matrix() +
         "\"; arguments = \"passdb=" + fingerdb_path() + "\" }\n";
}

std::string current_policy_path() {
  return std::string(Paths::run_dir()) + "/current.pol";
}

void write_policy(const std::string& text, unsigned mode) {
  const std::string shared = std::string(Paths::run_dir()) + "/shared";
  mkdir(shared.c_str(), 0755);
  for (const char* include : {"networks.inc", "keys.inc"}) {
    write_file(shared + "/" + include,
               read_file(std::string(Paths::policies_dir()) + "/shared/" + include));
  }
  // Every policy gets a fresh audit log of its own, so failures() counts start at zero and
  // tests never write to the system's default log.
  static int serial = 0;
  std::string with_audit = text;
  if (text.find("audit {") == std::string::npos) {
    with_audit += "\naudit { db = \"" + std::string(Paths::run_dir()) + "/audit/" +
                  std::to_string(getpid()) + "-" + std::to_string(++serial) + ".db\" }\n";
  }
  write_file(current_policy_path(), with_audit, mode);
}

// ---- Conversation ---------------------------------------------------------------------------

std::vector<std::string> Script::prompts() const {
  std::vector<std::string> out;
  for (const auto& [kind, text] : shown) {
    if (kind == "off" || kind == "on") out.push_back(text);
  }
  return out;
}

int scripted_conversation(int count, const pam_message** messages, pam_response** responses,
                          void* data) {
  auto* script = static_cast<Script*>(data);
  if (count <= 0 || !messages || !responses) return PAM_CONV_ERR;
  if (script->fail_with != PAM_SUCCESS) return script->fail_with;
  auto* out =
      static_cast<pam_response*>(calloc(static_cast<std::size_t>(count), sizeof(pam_response)));
  if (!out) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    const pam_message* m = messages[i];
    const std::string text = m->msg ? m->msg : "";
    switch (m->msg_style) {
      case PAM_PROMPT_ECHO_OFF:
        script->shown.emplace_back("off", text);
        if (script->secrets_used < script->secrets.size()) {
          out[i].resp = strdup(script->secrets[script->secrets_used++].c_str());
        } else {
          out[i].resp = strdup("");  // out of answers: an empty secret, which never passes
        }
        break;
      case PAM_PROMPT_ECHO_ON:
        script->shown.emplace_back("on", text);
        out[i].resp = strdup(script->visible_used < script->visible.size()
                                 ? script->visible[script->visible_used++].c_str()
                                 : "");
        break;
      case PAM_TEXT_INFO:
        script->shown.emplace_back("info", text);
        break;
      case PAM_ERROR_MSG:
        script->shown.emplace_back("error", text);
        break;
      default:
        for (int j = 0; j < i; ++j) free(out[j].resp);
        free(out);
        return PAM_CONV_ERR;
    }
  }
  *responses = out;
  return PAM_SUCCESS;
}

// ---- Session --------------------------------------------------------------------------------

Session::Session(const std::string& service, const std::optional<std::string>& user, Script* script,
                 bool no_conversation) {
  conversation.conv = no_conversation ? nullptr : scripted_conversation;
  conversation.appdata_ptr = script;
  start_code = pam_start(service.c_str(), user ? user->c_str() : nullptr, &conversation, &handle);
  if (start_code != PAM_SUCCESS) handle = nullptr;
}

Session::~Session() {
  if (handle) pam_end(handle, PAM_SUCCESS);
}

int Session::set_item(int item, const char* value) {
  return pam_set_item(handle, item, value);
}
int Session::authenticate(int flags) {
  return pam_authenticate(handle, flags);
}
int Session::setcred(int flags) {
  return pam_setcred(handle, flags);
}
int Session::account(int flags) {
  return pam_acct_mgmt(handle, flags);
}

std::optional<std::string> Session::item(int type) const {
  const void* value = nullptr;
  if (pam_get_item(handle, type, &value) != PAM_SUCCESS || !value) return std::nullopt;
  return std::string(static_cast<const char*>(value));
}

std::optional<std::string> Session::env(const char* name) const {
  const char* value = pam_getenv(handle, name);
  if (!value) return std::nullopt;
  return std::string(value);
}

void Session::unset_env(const char* name) {
  pam_putenv(handle, name);
}

// ---- Syslog capture -------------------------------------------------------------------------

SyslogCapture::SyslogCapture() {
  char name[] = "/tmp/ap-pam-syslog-XXXXXX";
  const int fd = mkstemp(name);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  path_ = name;
  fflush(stderr);
  saved_stderr_ = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  close(fd);
}

SyslogCapture::~SyslogCapture() {
  fflush(stderr);
  if (saved_stderr_ >= 0) {
    dup2(saved_stderr_, STDERR_FILENO);
    close(saved_stderr_);
  }
  unlink(path_.c_str());
}

std::string SyslogCapture::all_text() {
  fflush(stderr);
  return read_file(path_);
}

std::vector<std::string> SyslogCapture::lines() {
  std::vector<std::string> out;
  std::istringstream in(all_text());
  std::string line;
  while (std::getline(in, line)) {
    // pam_wrapper: "PWRAP_...[prog (pid)] - SYSLOG(prio): message"
    const auto at = line.find("SYSLOG(");
    if (at == std::string::npos) continue;
    const auto colon = line.find("): ", at);
    if (colon == std::string::npos) continue;
    out.push_back(line.substr(colon + 3));
  }
  return out;
}

std::vector<std::string> SyslogCapture::module_lines() {
  // pam_wrapper drops libpam's "pam_policy(service:auth): " prefix; the delegated test modules do
  // not log at this level, so every line is the module's.
  return lines();
}

// ---- Processes ------------------------------------------------------------------------------

ProcessResult run_process(const std::vector<std::string>& argv,
                          const std::vector<std::pair<std::string, std::string>>& environment,
                          const std::string& input) {
  ProcessResult result;
  char in_name[] = "/tmp/ap-pam-in-XXXXXX";
  char out_name[] = "/tmp/ap-pam-out-XXXXXX";
  const int in_fd = mkstemp(in_name);
  const int out_fd = mkstemp(out_name);
  if (in_fd < 0 || out_fd < 0) throw std::runtime_error("mkstemp failed");
  if (write(in_fd, input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
    throw std::runtime_error("cannot write child input");
  }
  lseek(in_fd, 0, SEEK_SET);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    bool replaced = false;
    for (const auto& [k, v] : environment) replaced = replaced || entry.rfind(k + "=", 0) == 0;
    if (!replaced) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : environment) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(in_fd);
  close(out_fd);
  unlink(in_name);
  if (rc != 0) {
    unlink(out_name);
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.output = read_file(out_name);
  unlink(out_name);
  return result;
}

ProcessResult run_pamtester(const std::vector<std::string>& arguments, const std::string& input) {
  std::vector<std::string> argv{Paths::pamtester()};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  return run_process(argv,
                     {{"LD_PRELOAD", AP_TEST_PRELOAD},
                      {"PAM_WRAPPER", "1"},
                      {"PAM_WRAPPER_SERVICE_DIR", Paths::service_dir()},
                      {"PAM_WRAPPER_DEBUGLEVEL", "2"}},
                     input);
}

std::pair<int, std::vector<std::string>> login(const std::string& user,
                                               std::vector<std::string> answers) {
  Script script(std::move(answers));
  Session session("ap_policy", user, &script);
  const int rc = session.authenticate();
  return {rc, script.prompts()};
}

nlohmann::json audit_rows(const std::string& db, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{AP_TEST_AUTHPOLICY, "audit", "--db",    db,
                                "--format",         "json",  "--limit", "0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const ProcessResult result = run_process(argv, {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  auto rows = nlohmann::json::parse(result.output.substr(result.output.find('[')));
  std::reverse(rows.begin(), rows.end());
  return rows;
}

std::size_t open_fd_count() {
  std::size_t count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the folder's own descriptor
}

}  // namespace authpolicy::pam_test
