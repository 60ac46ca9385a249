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

// The folder next to pam_policy.so that holds factor_<kind>.so.
#define AUTHPOLICY_FACTOR_PLUGIN_FOLDER "pam_policy-factors"
