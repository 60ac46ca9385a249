// The factor registry: delegated kinds go to factors/pam_delegate, plugin kinds to their plugins.
#include "pam/factor_registry.h"

#include <dlfcn.h>

#include <map>
#include <mutex>
#include <utility>

#include "base/file_trust.h"
#include "engine/load.h"
#include "pam/factor_plugin.h"

namespace authpolicy::pam_front {
namespace {

// A kind this build cannot serve: error, never pass, and nothing is asked.
class NotBuiltProvider final : public FactorProvider {
 public:
  explicit NotBuiltProvider(std::string detail) : detail_(std::move(detail)) {}
  std::optional<FactorResult> probe(const FactorRequest&) override {
    return FactorResult{Outcome::error, detail_};
  }
  FactorResult authenticate(const FactorRequest&, Conversation&) override {
    return {Outcome::error, detail_};
  }

 private:
  std::string detail_;
};

// The folder of factor plugins: next to this module's file, wherever libpam loaded it from (a
// path the administrator chose, never the environment). libpam may have loaded it through a
// symlink (security/pam_policy.so -> /opt/...): the plugins sit beside the file, so the folder is
// the one the trust walk reached, root-owned links resolved; an untrusted link gives none.
std::string plugin_folder(std::string* why) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&plugin_folder), &info) == 0 || !info.dli_fname ||
      info.dli_fname[0] != '/') {
    *why = "the loader does not say where pam_policy.so is";
    return {};
  }
  const TrustedFile self = open_trusted(info.dli_fname, TrustRules{});
  if (!self.ok()) {
    *why = self.reason;
    return {};
  }
  const auto slash = self.real_path.rfind('/');
  if (slash == std::string::npos) return {};
  return self.real_path.substr(0, slash) + "/" + AUTHPOLICY_FACTOR_PLUGIN_FOLDER;
}

// A loaded factor_<kind>.so's entry points; `enrolment` is null in a plugin without one.
struct PluginEntries {
  AuthpolicyFactorPluginMake make = nullptr;
  AuthpolicyFactorPluginEnrolment enrolment = nullptr;
};

// Loads factor_<kind>.so once per process and returns its entry points, or make == nullptr with
// `error`. The plugin stays mapped (RTLD_NODELETE): the libraries it pulls in (OpenSSL, libfido2)
// register process-wide state that must not be unmapped under the host program.
PluginEntries plugin_entries(const std::string& kind, std::string* error) {
  static std::mutex mutex;
  static std::map<std::string, PluginEntries, std::less<>> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = loaded.find(kind); it != loaded.end()) return it->second;
  std::string unplaced;
  const std::string folder = plugin_folder(&unplaced);
  if (folder.empty()) {
    *error = kind + " support: cannot locate pam_policy.so's folder: " + unplaced;
    return {};
  }
  const std::string path = folder + "/factor_" + kind + ".so";
  // Checked and loaded through one descriptor: the file that passed is the file mapped.
  const TrustedFile file = open_trusted(path, TrustRules{});
  if (!file.ok()) {
    *error = kind + " support not installed or unsafe: " + file.reason;
    return {};
  }
  std::string why;
  void* handle = dlopen_trusted(file, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE, &why);
  if (!handle) {
    *error = kind + " support cannot be loaded: " + why;
    return {};
  }
  PluginEntries entries;
  entries.make =
      reinterpret_cast<AuthpolicyFactorPluginMake>(dlsym(handle, AUTHPOLICY_FACTOR_PLUGIN_ENTRY));
  if (!entries.make) {
    *error = path + " is not an authpolicy factor plugin";
    return {};
  }
  entries.enrolment = reinterpret_cast<AuthpolicyFactorPluginEnrolment>(
      dlsym(handle, AUTHPOLICY_FACTOR_ENROLMENT_ENTRY));
  loaded.emplace(kind, entries);
  return entries;
}

AuthpolicyFactorPluginMake plugin_factory(const std::string& kind, std::string* error) {
  return plugin_entries(kind, error).make;
}

std::unique_ptr<FactorProvider> from_plugin(const std::string& kind, const FactorContext& context,
                                            const FactorSpec& spec) {
  std::string error;
  AuthpolicyFactorPluginMake factory = plugin_factory(kind, &error);
  if (!factory) return std::make_unique<NotBuiltProvider>(error);
  static const Settings no_block;
  char message[256] = {0};
  FactorProvider* made = factory(&spec.settings, context.policy ? &context.policy->tpm : &no_block,
                                 message, sizeof message);
  if (!made) return std::make_unique<NotBuiltProvider>(kind + ": " + message);
  return std::unique_ptr<FactorProvider>(made);
}

std::unique_ptr<FactorProvider> delegate(const FactorContext& context, const FactorSpec& spec) {
  if (!context.pamh || !context.session) {
    return std::make_unique<NotBuiltProvider>("no PAM handle for " + spec.name);
  }
  return std::make_unique<pam_delegate::DelegateProvider>(context.pamh, *context.session, spec);
}

}  // namespace

std::unique_ptr<FactorProvider> make_factor_provider(const FactorContext& context,
                                                     const FactorSpec& spec) {
  if (!spec.kit) return std::make_unique<NotBuiltProvider>("no kind for factor " + spec.name);
  switch (spec.kit->delivery) {
    case Delivery::delegated:
      return delegate(context, spec);  // the kit's module unless `module = …` or pam() says
    case Delivery::plugin:
      return from_plugin(std::string(spec.kit->plugin), context, spec);
  }
  return std::make_unique<NotBuiltProvider>("no provider for factor " + spec.name);
}

Enrolment plugin_enrolment(const Policy* policy, const FactorSpec& spec, const std::string& user) {
  if (!spec.kit || spec.kit->delivery != Delivery::plugin) {
    return {Enrolment::State::unknown, "factor '" + spec.name + "' has no plugin"};
  }
  const std::string kind(spec.kit->plugin);
  std::string error;
  const PluginEntries entries = plugin_entries(kind, &error);
  if (!entries.make) return {Enrolment::State::unknown, error};
  if (!entries.enrolment) {
    return {Enrolment::State::unknown, kind + " support cannot tell whether a user has enrolled"};
  }
  static const Settings no_block;
  char detail[256] = {0};
  const int answer = entries.enrolment(&spec.settings, policy ? &policy->tpm : &no_block,
                                       user.data(), user.size(), detail, sizeof detail);
  switch (answer) {
    case AUTHPOLICY_ENROLMENT_ENROLLED:
      return {Enrolment::State::enrolled, detail};
    case AUTHPOLICY_ENROLMENT_NONE:
      return {Enrolment::State::none, detail};
    default:
      break;
  }
  return {Enrolment::State::unknown,
          detail[0] ? std::string(detail) : kind + ": enrolment unknown"};
}

FactorProvider* ModuleFactorSource::provider(const FactorSpec& spec, std::string*) {
  if (auto it = providers_.find(spec.name); it != providers_.end()) return it->second.get();
  return providers_.emplace(spec.name, make_factor_provider(context_, spec)).first->second.get();
}

}  // namespace authpolicy::pam_front
