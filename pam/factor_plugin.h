// The boundary between pam_policy.so and its factor plugins (pin, u2f, totp), which are loaded
// only when a policy asks for them, so a password-only login never maps libfido2 or tpm2-tss.
#pragma once

#include <cstddef>

#include "engine/factor.h"

// Each plugin exports this one function. It returns a new provider (the caller owns it and deletes
// it through the virtual destructor), or nullptr with a message in `error`. Never throws.
#define AUTHPOLICY_FACTOR_PLUGIN_ENTRY "authpolicy_factor_plugin_make"
extern "C" {
using AuthpolicyFactorPluginMake =
    authpolicy::FactorProvider* (*)(const authpolicy::Settings* factor_settings,
                                    const authpolicy::Settings* tpm_settings, char* error,
                                    std::size_t error_size);
}

// And this one: enrolled(FACTOR) for the user (`user_size` bytes, not NUL-terminated), from the
// kind's enrolment store with the factor's settings and the policy's `tpm { … }` block. Returns
// AUTHPOLICY_ENROLMENT_ENROLLED, _NONE or _UNKNOWN (anything else is taken as unknown) and writes
// the reason, never a secret, into `detail`. Never throws. Resolved only when a policy evaluates
// enrolled() of a kind whose kit says its plugin tells (EnrolmentStore::plugin).
#define AUTHPOLICY_FACTOR_ENROLMENT_ENTRY "authpolicy_factor_plugin_enrolment"
#define AUTHPOLICY_ENROLMENT_ENROLLED 0
#define AUTHPOLICY_ENROLMENT_NONE 1
#define AUTHPOLICY_ENROLMENT_UNKNOWN 2
extern "C" {
using AuthpolicyFactorPluginEnrolment = int (*)(const authpolicy::Settings* factor_settings,
                                                const authpolicy::Settings* tpm_settings,
                                                const char* user, std::size_t user_size,
                                                char* detail, std::size_t detail_size);
}

// The folder next to pam_policy.so that holds factor_<kind>.so.
#define AUTHPOLICY_FACTOR_PLUGIN_FOLDER "pam_policy-factors"
