// One factor plugin: the factory and enrolment reader of a plugin-delivered kind
// (factors/<kind>/plugin.cpp, chosen by the kit's ap_factor_plugin() in CMake) behind the C entry
// points pam_policy.so looks up.
#include <cstdio>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "factors/plugin_entry.h"
#include "pam/factor_plugin.h"

namespace {

// pam_policy.so carries its own copy of libstdc++ while a plugin uses the shared one, so no
// exception may travel between them: every call is caught here and becomes an error outcome.
class GuardedProvider final : public authpolicy::FactorProvider {
 public:
  explicit GuardedProvider(std::unique_ptr<authpolicy::FactorProvider> inner)
      : inner_(std::move(inner)) {}

  std::optional<authpolicy::FactorResult> probe(const authpolicy::FactorRequest& request) override {
    try {
      return inner_->probe(request);
    } catch (const std::exception& e) {
      return authpolicy::FactorResult{authpolicy::Outcome::error, failure(e.what())};
    } catch (...) {
      return authpolicy::FactorResult{authpolicy::Outcome::error, failure(nullptr)};
    }
  }

  authpolicy::FactorResult authenticate(const authpolicy::FactorRequest& request,
                                        authpolicy::Conversation& conversation) override {
    try {
      return inner_->authenticate(request, conversation);
    } catch (const std::exception& e) {
      return {authpolicy::Outcome::error, failure(e.what())};
    } catch (...) {
      return {authpolicy::Outcome::error, failure(nullptr)};
    }
  }

 private:
  static std::string failure(const char* what) noexcept {
    try {
      return std::string("provider failed") + (what ? std::string(": ") + what : std::string());
    } catch (...) {
      return {};
    }
  }
  std::unique_ptr<authpolicy::FactorProvider> inner_;
};

void set_error(char* error, std::size_t size, const char* text) {
  if (error && size > 0) std::snprintf(error, size, "%s", text);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) authpolicy::FactorProvider*
authpolicy_factor_plugin_make(const authpolicy::Settings* factor_settings,
                              const authpolicy::Settings* tpm_settings, char* error,
                              std::size_t error_size) {
  if (!factor_settings || !tpm_settings) {
    set_error(error, error_size, "no settings");
    return nullptr;
  }
  try {
    auto provider = authpolicy::make_plugin_provider(*factor_settings, *tpm_settings);
    if (!provider) {
      set_error(error, error_size, "the factory made no provider");
      return nullptr;
    }
    return new GuardedProvider(std::move(provider));
  } catch (const std::bad_alloc&) {
    set_error(error, error_size, "out of memory");
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
  } catch (...) {
    set_error(error, error_size, "provider construction failed");
  }
  return nullptr;
}

extern "C" __attribute__((visibility("default"))) int authpolicy_factor_plugin_enrolment(
    const authpolicy::Settings* factor_settings, const authpolicy::Settings* tpm_settings,
    const char* user, std::size_t user_size, char* detail, std::size_t detail_size) {
  if (!factor_settings || !tpm_settings || !user) {
    set_error(detail, detail_size, "no settings");
    return AUTHPOLICY_ENROLMENT_UNKNOWN;
  }
  try {
    const authpolicy::Enrolment enrolment = authpolicy::plugin_enrolment(
        *factor_settings, *tpm_settings, std::string_view(user, user_size));
    set_error(detail, detail_size, enrolment.detail.c_str());
    switch (enrolment.state) {
      case authpolicy::Enrolment::State::enrolled:
        return AUTHPOLICY_ENROLMENT_ENROLLED;
      case authpolicy::Enrolment::State::none:
        return AUTHPOLICY_ENROLMENT_NONE;
      case authpolicy::Enrolment::State::unknown:
        break;
    }
  } catch (const std::bad_alloc&) {
    set_error(detail, detail_size, "out of memory");
  } catch (const std::exception& e) {
    set_error(detail, detail_size, e.what());
  } catch (...) {
    set_error(detail, detail_size, "enrolment look-up failed");
  }
  return AUTHPOLICY_ENROLMENT_UNKNOWN;
}
