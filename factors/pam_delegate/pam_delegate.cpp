// Delegation to another PAM module: resolving and trusting the file, calling it on our handle,
// mapping its return code, and keeping PAM_AUTHTOK from leaking between factors.
#include "factors/pam_delegate/pam_delegate.h"

#include <dlfcn.h>
#include <security/pam_appl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "engine/load.h"

namespace authpolicy::pam_delegate {
namespace {

#ifndef AUTHPOLICY_SYSTEM_PAM_DIR
#define AUTHPOLICY_SYSTEM_PAM_DIR "/usr/lib/x86_64-linux-gnu/security"
#endif

// Returns the current PAM_USER, or nullopt when it is not set.
std::optional<std::string> current_user(pam_handle_t* pamh) {
  const void* item = nullptr;
  if (pam_get_item(pamh, PAM_USER, &item) != PAM_SUCCESS || item == nullptr) return std::nullopt;
  return std::string(static_cast<const char*>(item));
}

// Returns true when the application gave a conversation function to talk through.
bool has_conversation(pam_handle_t* pamh) {
  const void* item = nullptr;
  if (pam_get_item(pamh, PAM_CONV, &item) != PAM_SUCCESS || item == nullptr) return false;
  return static_cast<const pam_conv*>(item)->conv != nullptr;
}

std::vector<const char*> argv_of(const std::vector<std::string>& arguments) {
  std::vector<const char*> argv;
  argv.reserve(arguments.size() + 1);
  for (const auto& a : arguments) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return argv;
}

}  // namespace

const char* system_module_dir() noexcept {
  return AUTHPOLICY_SYSTEM_PAM_DIR;
}

TrustedFile open_module(const std::string& name, const std::string& system_dir, std::string* path,
                        std::string* error) {
  auto refuse = [&](std::string why) {
    if (error) *error = std::move(why);
    TrustedFile none;
    none.status = TrustStatus::unsafe;
    return none;
  };
  if (name.empty() || name.find('\0') != std::string::npos) return refuse("empty module name");
  std::string file;
  if (name.front() == '/') {
    file = name;
  } else if (name.find('/') != std::string::npos) {
    return refuse("module " + name + " is neither a bare name nor an absolute path");
  } else if (name == "." || name == "..") {
    return refuse("module name " + name + " is not a file");
  } else {
    file = system_dir + "/" + name;
  }
  if (path) *path = file;
  // The policy file rule (base/file_trust.h) is exactly the trust a module we run as root needs.
  TrustedFile module = open_trusted(file, TrustRules{});
  if (module.status == TrustStatus::missing) {
    if (error) *error = "module " + name + " not found (" + module.reason + ")";
  } else if (!module.ok()) {
    if (error) *error = "module " + name + " refused: " + module.reason;
  }
  return module;
}

// Linux-PAM's name for a return code ("PAM_AUTHTOK_ERR"), for logs and audit records: the
// number alone means nothing to whoever reads them.
std::string pam_code_name(int code) {
  static constexpr const char* kNames[] = {
      "PAM_SUCCESS",
      "PAM_OPEN_ERR",
      "PAM_SYMBOL_ERR",
      "PAM_SERVICE_ERR",
      "PAM_SYSTEM_ERR",
      "PAM_BUF_ERR",
      "PAM_PERM_DENIED",
      "PAM_AUTH_ERR",
      "PAM_CRED_INSUFFICIENT",
      "PAM_AUTHINFO_UNAVAIL",
      "PAM_USER_UNKNOWN",
      "PAM_MAXTRIES",
      "PAM_NEW_AUTHTOK_REQD",
      "PAM_ACCT_EXPIRED",
      "PAM_SESSION_ERR",
      "PAM_CRED_UNAVAIL",
      "PAM_CRED_EXPIRED",
      "PAM_CRED_ERR",
      "PAM_NO_MODULE_DATA",
      "PAM_CONV_ERR",
      "PAM_AUTHTOK_ERR",
      "PAM_AUTHTOK_RECOVERY_ERR",
      "PAM_AUTHTOK_LOCK_BUSY",
      "PAM_AUTHTOK_DISABLE_AGING",
      "PAM_TRY_AGAIN",
      "PAM_IGNORE",
      "PAM_ABORT",
      "PAM_AUTHTOK_EXPIRED",
      "PAM_MODULE_UNKNOWN",
      "PAM_BAD_ITEM",
      "PAM_CONV_AGAIN",
      "PAM_INCOMPLETE",
  };
  static_assert(PAM_AUTHTOK_ERR == 20 && PAM_INCOMPLETE == 31, "Linux-PAM's numbering");
  if (code >= 0 && code < static_cast<int>(std::size(kNames))) return kNames[code];
  return "PAM code " + std::to_string(code);
}

FactorResult outcome_for_pam_code(int code) {
  const char* text = nullptr;
  switch (code) {
    case PAM_SUCCESS:
      return {Outcome::pass, "PAM_SUCCESS"};
    case PAM_AUTH_ERR:
      return {Outcome::fail, "PAM_AUTH_ERR"};
    case PAM_MAXTRIES:
      return {Outcome::fail, "PAM_MAXTRIES"};
    case PAM_CRED_INSUFFICIENT:
      return {Outcome::fail, "PAM_CRED_INSUFFICIENT"};
    case PAM_USER_UNKNOWN:
      return {Outcome::unavailable, "PAM_USER_UNKNOWN"};
    case PAM_AUTHINFO_UNAVAIL:
      return {Outcome::unavailable, "PAM_AUTHINFO_UNAVAIL"};
    case PAM_IGNORE:
      return {Outcome::unavailable, "PAM_IGNORE"};
    case PAM_CONV_ERR:
      text = "PAM_CONV_ERR";
      break;
    case PAM_ABORT:
      text = "PAM_ABORT";
      break;
    case PAM_SYSTEM_ERR:
      text = "PAM_SYSTEM_ERR";
      break;
    case PAM_BUF_ERR:
      text = "PAM_BUF_ERR";
      break;
    case PAM_SERVICE_ERR:
      text = "PAM_SERVICE_ERR";
      break;
    case PAM_PERM_DENIED:
      text = "PAM_PERM_DENIED";
      break;
    case PAM_CRED_ERR:
      text = "PAM_CRED_ERR";
      break;
    case PAM_CRED_UNAVAIL:
      text = "PAM_CRED_UNAVAIL";
      break;
    case PAM_OPEN_ERR:
      text = "PAM_OPEN_ERR";
      break;
    case PAM_SYMBOL_ERR:
      text = "PAM_SYMBOL_ERR";
      break;
    default:
      break;
  }
  if (text) return {Outcome::error, text};
  return {Outcome::error, pam_code_name(code)};
}

// ---- DelegateSession ------------------------------------------------------------------------

DelegateSession::DelegateSession(std::string system_dir) : system_dir_(std::move(system_dir)) {}

DelegateSession::~DelegateSession() {
  for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
    if ((*it)->handle) dlclose((*it)->handle);
  }
}

LoadedModule* DelegateSession::load(const std::string& name, std::string* error) {
  std::string path;
  const TrustedFile file = open_module(name, system_dir_, &path, error);
  if (!file.ok()) return nullptr;
  // The same file (device and inode, as checked just now) is the same module: reuse it.
  for (const auto& m : modules_) {
    if (m->device == file.info.st_dev && m->inode == file.info.st_ino) return m.get();
  }
  // RTLD_LOCAL: the module's own pam_sm_* must not be confused with ours or another module's.
  std::string why;
  void* handle = dlopen_trusted(file, RTLD_NOW | RTLD_LOCAL, &why);
  if (!handle) {
    if (error) *error = "cannot load module " + name + ": " + why;
    return nullptr;
  }
  auto module = std::make_unique<LoadedModule>();
  module->path = path;
  module->device = file.info.st_dev;
  module->inode = file.info.st_ino;
  module->handle = handle;
  module->authenticate = reinterpret_cast<ModuleEntry>(dlsym(handle, "pam_sm_authenticate"));
  module->setcred = reinterpret_cast<ModuleEntry>(dlsym(handle, "pam_sm_setcred"));
  if (!module->authenticate) {
    dlclose(handle);
    if (error) *error = "module " + name + " has no pam_sm_authenticate";
    return nullptr;
  }
  modules_.push_back(std::move(module));
  return modules_.back().get();
}

void DelegateSession::begin_authentication(int flags) {
  flags_ = flags;
  passed_.clear();
  password_token_.reset();
  token_touched_ = false;
  conversation_failed = false;
}

void DelegateSession::record_pass(std::string factor, LoadedModule* module,
                                  std::vector<std::string> arguments) {
  passed_.push_back({std::move(factor), module, std::move(arguments)});
}

int DelegateSession::setcred_passed(pam_handle_t* pamh, int flags, std::string* failed_module) {
  for (const auto& p : passed_) {
    if (!p.module || !p.module->setcred) continue;  // a module without setcred has nothing to set
    auto argv = argv_of(p.arguments);
    const int rc =
        p.module->setcred(pamh, flags, static_cast<int>(p.arguments.size()), argv.data());
    if (rc != PAM_SUCCESS && rc != PAM_IGNORE) {
      if (failed_module) *failed_module = p.module->path;
      return rc;
    }
  }
  return PAM_SUCCESS;
}

void DelegateSession::keep_password_token(pam_handle_t* pamh) {
  const void* item = nullptr;
  if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item != nullptr) {
    password_token_.emplace(static_cast<const char*>(item));
  }
}

void DelegateSession::clear_token(pam_handle_t* pamh) {
  token_touched_ = true;
  pam_set_item(pamh, PAM_AUTHTOK, nullptr);  // libpam wipes the old value before freeing it
}

void DelegateSession::finish_token(pam_handle_t* pamh) {
  if (!token_touched_) return;
  if (password_token_) {
    pam_set_item(pamh, PAM_AUTHTOK, password_token_->c_str());
    password_token_.reset();
    return;
  }
  pam_set_item(pamh, PAM_AUTHTOK, nullptr);
}

// ---- DelegateProvider -----------------------------------------------------------------------

DelegateProvider::DelegateProvider(pam_handle_t* pamh, DelegateSession& session,
                                   const FactorSpec& spec)
    : pamh_(pamh),
      session_(session),
      factor_(spec.name),
      is_password_(spec.kit->traits.password),
      module_name_(spec.module),
      arguments_(spec.arguments) {}

std::optional<FactorResult> DelegateProvider::probe(const FactorRequest&) {
  if (!has_conversation(pamh_)) {
    session_.conversation_failed = true;
    return FactorResult{Outcome::error, "no conversation"};
  }
  std::string error;
  module_ = session_.load(module_name_, &error);
  if (!module_) return FactorResult{Outcome::error, error};
  return std::nullopt;
}

FactorResult DelegateProvider::authenticate(const FactorRequest&, Conversation&) {
  if (!module_) return {Outcome::error, "module not loaded"};
  const std::optional<std::string> user_before = current_user(pamh_);
  // Another factor's secret must not be silently reused by this module (try_first_pass).
  session_.clear_token(pamh_);
  auto argv = argv_of(arguments_);
  const int rc = module_->authenticate(pamh_, session_.flags(), static_cast<int>(arguments_.size()),
                                       argv.data());
  if (rc == PAM_CONV_ERR) session_.conversation_failed = true;
  FactorResult result = outcome_for_pam_code(rc);
  // A module that changes who is authenticating would make every other answer meaningless.
  if (current_user(pamh_) != user_before) {
    session_.clear_token(pamh_);
    return {Outcome::error, "module " + module_name_ + " changed PAM_USER"};
  }
  if (result.outcome == Outcome::pass) {
    session_.record_pass(factor_, module_, arguments_);
    if (is_password_) session_.keep_password_token(pamh_);
  }
  session_.clear_token(pamh_);
  return result;
}

}  // namespace authpolicy::pam_delegate
