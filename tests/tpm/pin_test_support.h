// Shared by the PIN provider and enrolment tests: a private swtpm with a PIN store on it, and the
// factor's options pointing at that TPM, in process or through the helper's test variant (each
// test runs once per backend).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "engine/factor.h"
#include "factors/tpm/pin_provider.h"
#include "factors/tpm/pin_store.h"
#include "tests/tpm/swtpm_fixture.h"

namespace authpolicy::testing {

class PinOnSwtpm : public ::testing::TestWithParam<tpm::BackendChoice> {
 protected:
  PinOnSwtpm() {
    tpm::TpmConfig config;
    config.tcti = swtpm_.tcti();
    store_.emplace(config);
  }

  // The policy's `tpm { tcti = ... }` block for this swtpm.
  Settings tpm_block() const {
    Settings tpm;
    tpm.set("tcti", swtpm_.tcti());
    return tpm;
  }
  // The test's backend; the helper is the test variant, told this swtpm's TCTI.
  tpm::PinProviderOptions options() const {
    tpm::PinProviderOptions options;
    options.backend = GetParam();
    options.helper.path = AP_PIN_HELPER_TEST_VARIANT;
    options.helper.environment = {"AUTHPOLICY_TEST_TCTI=" + swtpm_.tcti()};
    return options;
  }

  Swtpm swtpm_;
  std::optional<tpm::PinStore> store_;
};

// The backends a PinOnSwtpm test runs with, and their names in the test names.
inline auto pin_backends() {
  return ::testing::Values(tpm::BackendChoice::automatic, tpm::BackendChoice::helper);
}
inline std::string pin_backend_name(const ::testing::TestParamInfo<tpm::BackendChoice>& info) {
  return info.param == tpm::BackendChoice::helper ? "Helper" : "InProcess";
}

}  // namespace authpolicy::testing
