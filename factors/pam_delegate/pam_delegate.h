// Factors that run another PAM module's pam_sm_authenticate on the same PAM handle.
#pragma once

#include <security/pam_modules.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/file_trust.h"
#include "engine/factor.h"
#include "engine/policy.h"
#include "engine/secret.h"

namespace authpolicy::pam_delegate {

// The folder bare module names ("pam_unix.so") are looked up in, fixed at build time.
const char* system_module_dir() noexcept;

// The file a module name stands for (a bare name in `system_dir`, or an absolute path), opened
// with open_trusted: root-owned, not writable by group or others, every folder above it
// root-owned and not writable by group or others. Not ok, with `error` set, otherwise. The module
// is then loaded through this descriptor (dlopen_trusted), never by path again.
TrustedFile open_module(const std::string& name, const std::string& system_dir, std::string* path,
                        std::string* error);

// How a delegated module's return code maps to an outcome (issue 3): the detail names the code.
FactorResult outcome_for_pam_code(int code);

// Linux-PAM's name for a return code ("PAM_AUTHTOK_ERR"); "PAM code N" for numbers it has none for.
std::string pam_code_name(int code);

using ModuleEntry = int (*)(pam_handle_t*, int, int, const char**);

// One dlopen()ed module; closed when the session that loaded it goes away.
struct LoadedModule {
  std::string path;  // as named, for messages
  dev_t device = 0;  // the file that was checked and loaded
  ino_t inode = 0;
  void* handle = nullptr;
  ModuleEntry authenticate = nullptr;
  ModuleEntry setcred = nullptr;
};

// What delegation remembers on one PAM handle: the modules it loaded (kept open for setcred, closed
// at pam_end), which delegated factors passed in the last authentication, and the password token.
class DelegateSession {
 public:
  explicit DelegateSession(std::string system_dir = system_module_dir());
  ~DelegateSession();
  DelegateSession(const DelegateSession&) = delete;
  DelegateSession& operator=(const DelegateSession&) = delete;

  // Loads a module once per session. nullptr with `error` when it cannot be used.
  LoadedModule* load(const std::string& name, std::string* error);

  // A new pam_authenticate on this handle: forget the passes of an earlier attempt.
  void begin_authentication(int flags);
  int flags() const { return flags_; }

  struct Passed {
    std::string factor;
    LoadedModule* module = nullptr;
    std::vector<std::string> arguments;
  };
  void record_pass(std::string factor, LoadedModule* module, std::vector<std::string> arguments);
  const std::vector<Passed>& passed() const { return passed_; }

  // Runs pam_sm_setcred of every module that passed, in order. Returns PAM_SUCCESS, or the first
  // failing module's code with its path in `failed_module`.
  int setcred_passed(pam_handle_t* pamh, int flags, std::string* failed_module);

  // PAM_AUTHTOK between factors: a delegated factor never sees another factor's secret, and after
  // the decision the item holds the password when `password` passed, and nothing otherwise.
  void keep_password_token(pam_handle_t* pamh);
  void clear_token(pam_handle_t* pamh);
  void finish_token(pam_handle_t* pamh);

  // Set when a delegated module reported PAM_CONV_ERR or there was no conversation to use.
  bool conversation_failed = false;

 private:
  std::string system_dir_;
  int flags_ = 0;
  std::vector<std::unique_ptr<LoadedModule>> modules_;
  std::vector<Passed> passed_;
  std::optional<SecretString> password_token_;
  bool token_touched_ = false;
};

// The provider for one delegated factor. The module talks to the person through the PAM
// conversation itself, so the evaluator's Conversation is not used here.
class DelegateProvider final : public FactorProvider {
 public:
  DelegateProvider(pam_handle_t* pamh, DelegateSession& session, const FactorSpec& spec);

  // No conversation function, or a module that cannot be loaded: error. Otherwise nullopt.
  std::optional<FactorResult> probe(const FactorRequest& request) override;
  FactorResult authenticate(const FactorRequest& request, Conversation& conversation) override;

 private:
  pam_handle_t* pamh_;
  DelegateSession& session_;
  std::string factor_;
  bool is_password_;
  std::string module_name_;
  std::vector<std::string> arguments_;
  LoadedModule* module_ = nullptr;
};

}  // namespace authpolicy::pam_delegate
