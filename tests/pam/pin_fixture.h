// Shared by the PIN tests through real libpam: a private swtpm, a real account whose uid keys the
// PIN index, a folder of the test's own in run/ (its passdb, its audit log), and the policy lines
// that point the module at them.
#pragma once

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "factors/tpm/pin_store.h"
#include "tests/pam/harness.h"
#include "tests/tpm/swtpm_fixture.h"

namespace authpolicy::pam_test {

class PinFixture : public ::testing::Test {
 protected:
  // Looks up `user` (it must exist: the PIN index is keyed by its uid), makes the test's folder
  // run/PREFIX-PID-TEST (0755) afresh, and opens the PIN store on this test's swtpm.
  void prepare(const char* user, const std::string& prefix) {
    const passwd* pw = getpwnam(user);
    ASSERT_NE(pw, nullptr) << "needs the '" << user << "' account";
    uid_ = pw->pw_uid;
    folder_ = std::string(Paths::run_dir()) + "/" + prefix + "-" + std::to_string(getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(folder_);
    std::filesystem::create_directories(folder_);
    chmod(folder_.c_str(), 0755);
    tpm::TpmConfig config;
    config.tcti = swtpm_.tcti();
    store_ = std::make_unique<tpm::PinStore>(config);
  }
  void TearDown() override {
    std::error_code ignored;
    if (!folder_.empty()) std::filesystem::remove_all(folder_, ignored);
  }

  // The policy's `tpm` block for this swtpm and a password factor reading the test's passdb.
  std::string tpm_block() const { return "tpm { tcti = \"" + swtpm_.tcti() + "\" }\n"; }
  std::string password_factor() const {
    return std::string("factor password { module = \"") + Paths::matrix() +
           "\"; arguments = \"passdb=" + folder_ + "/passdb\" }\n";
  }
  std::string audit_db() const { return folder_ + "/audit/audit.db"; }
  std::uint32_t attempts_used() { return store_->status(uid_).counter->used; }

  testing::Swtpm swtpm_;
  std::unique_ptr<tpm::PinStore> store_;
  std::string folder_;
  uid_t uid_ = 0;
};

}  // namespace authpolicy::pam_test
