// base/file_trust.h with real files and processes: what a reader sees while writers replace the
// file it opens.
#include "base/file_trust.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/trusted_write.h"
#include "tests/support/temp_folder.h"

namespace authpolicy {
namespace {

// Logins that each replace a secret file by rename (base's replace_at, as TOTP does) make
// whoever opens the name between another's openat and fstat hold a file that has just lost its
// name: 0 links. That is a file replaced, not a second name, so the opener must take the file
// the name holds now; only a file with another name is refused.
TEST(OpenAtTrusted, AFileReplacedWhileItIsOpenedIsOpenedAgainNotRefused) {
  test_support::TempFolder temp;
  temp.write("secret", "v0\n", 0600);
  TrustRules rules;
  rules.forbidden_file_bits = 077;
  const TrustedFile folder = open_folder_trusted(temp.path(), rules);
  ASSERT_TRUE(folder.ok()) << folder.reason;

  const pid_t writer = fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {
    const TrustedFile own = open_folder_trusted(temp.path(), rules);
    for (int i = 0;; ++i) {
      if (!replace_at(own, "secret", "v" + std::to_string(i) + "\n", NewFile{0, 0, 0600}).ok()) {
        _exit(1);
      }
    }
  }
  int refused = 0;
  std::string last_reason;
  for (int i = 0; i < 20000; ++i) {
    const TrustedFile file = open_at_trusted(folder, "secret", rules);
    if (!file.ok()) {
      ++refused;
      last_reason = file.reason;
    }
  }
  kill(writer, SIGKILL);
  int status = 0;
  waitpid(writer, &status, 0);
  EXPECT_EQ(refused, 0) << last_reason;

  // A real second name is still refused.
  ASSERT_EQ(link(temp.file("secret").c_str(), temp.file("other").c_str()), 0);
  const TrustedFile linked = open_at_trusted(folder, "secret", rules);
  EXPECT_FALSE(linked.ok());
  EXPECT_NE(linked.reason.find("has 2 hard links"), std::string::npos) << linked.reason;
}

}  // namespace
}  // namespace authpolicy
