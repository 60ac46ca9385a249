// The store when the disk says no: read-only, not root, corrupt, full, missing folder.
// Each case runs where it can hurt (own mount namespace, dropped privileges) in a child process,
// so a crash would show up as a signal and the host's mounts are never touched.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>

#include <fstream>
#include <random>

#include "audit/audit_store.h"
#include "audit_test_support.h"

namespace authpolicy::audit {
namespace {

using testing::ChildResult;
using testing::run_in_child;
using testing::sample_record;
using testing::TempFolder;

// "code|message|after_write(required=false)|after_write(required=true)"
std::string describe(const Status& status) {
  auto action = [](AfterWrite after) {
    switch (after) {
      case AfterWrite::keep_decision:
        return "keep";
      case AfterWrite::keep_decision_and_warn:
        return "keep+warn";
      case AfterWrite::deny_and_warn:
        return "deny+warn";
    }
    return "?";
  };
  return std::string(to_string(status.code)) + "|" + status.message + "|" +
         action(after_write(status, false)) + "|" + action(after_write(status, true));
}

// Gives the child a private mount namespace so the mounts it makes vanish with it.
std::string private_mounts() {
  if (unshare(CLONE_NEWNS) != 0)
    return std::string("unshare(CLONE_NEWNS) failed: ") + strerror(errno);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return std::string("making / private failed: ") + strerror(errno);
  }
  return {};
}

void expect_no_crash(const ChildResult& child) {
  EXPECT_EQ(child.signal, 0) << "the child crashed with signal " << child.signal;
  EXPECT_EQ(child.exit_code, 0);
}

TEST(AuditFailureModes, ReadOnlyFileSystemFailsCleanlyAndStillCounts) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  ASSERT_TRUE(record_decision(path, {}, sample_record("bob", "deny")).ok());
  auto child = run_in_child([&]() -> std::string {
    if (auto error = private_mounts(); !error.empty()) return "setup: " + error;
    if (mount(temp.path().c_str(), temp.path().c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        mount(nullptr, temp.path().c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) !=
            0) {
      return std::string("setup: read-only bind mount failed (needs CAP_SYS_ADMIN): ") +
             strerror(errno);
    }
    Status write = record_decision(path, {}, sample_record("bob", "deny"));
    auto count = count_failures(path, {}, {"bob", 900, std::nullopt, 0});
    return describe(write) +
           "\ncount=" + (count.known() ? std::to_string(*count.count) : "unknown:" + count.cause);
  });
  expect_no_crash(child);
  ASSERT_EQ(child.output.find("setup:"), std::string::npos) << child.output;
  EXPECT_TRUE(child.output.starts_with("read_only|") || child.output.starts_with("cannot_open|"))
      << child.output;
  EXPECT_NE(child.output.find("|keep+warn|deny+warn"), std::string::npos) << child.output;
  // The earlier row stays readable, so failures() still works on a read-only log.
  EXPECT_NE(child.output.find("count=1"), std::string::npos) << child.output;
  // Back on the writable file, the next decision is stored again.
  EXPECT_TRUE(record_decision(path, {}, sample_record("bob", "deny")).ok());
}

TEST(AuditFailureModes, ProcessNotRootCannotWriteOrRead) {
  TempFolder temp;
  std::string path = temp.file("lib/audit.db");
  ASSERT_TRUE(record_decision(path, {}, sample_record("bob", "deny")).ok());
  chmod(temp.path().c_str(), 0755);  // let nobody reach the 0700 folder's door, not inside
  auto child = run_in_child([&]() -> std::string {
    if (setgid(65534) != 0 || setuid(65534) != 0) return "setup: cannot drop to nobody";
    Status write = record_decision(path, {}, sample_record("bob", "deny"));
    auto count = count_failures(path, {}, {"bob", 900, std::nullopt, 0});
    return describe(write) +
           "\ncount=" + (count.known() ? std::to_string(*count.count) : "unknown");
  });
  expect_no_crash(child);
  EXPECT_TRUE(child.output.starts_with("read_only|")) << child.output;
  EXPECT_NE(child.output.find("Permission denied"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("count=unknown"), std::string::npos)
      << "an unreadable log is unknown, not zero: " << child.output;
}

TEST(AuditFailureModes, CorruptFileIsReportedNeverTrusted) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  {
    std::mt19937 random(42);
    std::ofstream file(path, std::ios::binary);
    for (int i = 0; i < 64 * 1024; ++i) file.put(static_cast<char>(random() & 0xff));
  }
  chmod(path.c_str(), 0600);
  auto child = run_in_child([&]() -> std::string {
    Status write = record_decision(path, {}, sample_record("bob", "deny"));
    auto count = count_failures(path, {}, {"bob", 900, std::nullopt, 0});
    auto report = verify_database(path, {});
    return describe(write) + "\ncount=" + (count.known() ? "known" : "unknown:" + count.cause) +
           "\nverify_problems=" + std::to_string(report.problems.size());
  });
  expect_no_crash(child);
  EXPECT_TRUE(child.output.starts_with("corrupt|")) << child.output;
  EXPECT_NE(child.output.find("not a database"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("|keep+warn|deny+warn"), std::string::npos);
  EXPECT_NE(child.output.find("count=unknown:"), std::string::npos) << child.output;
  EXPECT_EQ(child.output.find("verify_problems=0"), std::string::npos) << child.output;
}

TEST(AuditFailureModes, FullFileSystemFailsCleanlyAndRecovers) {
  TempFolder temp;
  std::string folder = temp.file("small");
  auto child = run_in_child([&]() -> std::string {
    if (auto error = private_mounts(); !error.empty()) return "setup: " + error;
    std::filesystem::create_directory(folder);
    if (mount("tmpfs", folder.c_str(), "tmpfs", 0, "size=128k,mode=0700") != 0) {
      return std::string("setup: mounting a small tmpfs failed (needs CAP_SYS_ADMIN): ") +
             strerror(errno);
    }
    std::string path = folder + "/audit.db";
    auto opened = AuditStore::open(path, {});
    if (!opened.status.ok()) return "open: " + describe(opened.status);
    auto record = sample_record("bob", "deny");
    record.reason = std::string(2000, 'x');
    Status status;
    int stored = 0;
    for (int i = 0; i < 1000 && status.ok(); ++i) {
      status = opened.store->write(record);
      if (status.ok()) ++stored;
    }
    std::string report = describe(status) + "\nstored=" + std::to_string(stored);
    // Reading still works when the disk is full.
    auto count = opened.store->count_failures({"bob", 900, std::nullopt, 0});
    report +=
        "\ncount=" + (count.known() ? std::to_string(*count.count) : "unknown:" + count.cause);
    // The next decision tries again (and fails again, cleanly) rather than giving up for good.
    report += "\nagain=" + std::string(to_string(opened.store->write(record).code));
    return report;
  });
  expect_no_crash(child);
  ASSERT_EQ(child.output.find("setup:"), std::string::npos) << child.output;
  EXPECT_TRUE(child.output.starts_with("full|")) << child.output;
  EXPECT_NE(child.output.find("|keep+warn|deny+warn"), std::string::npos);
  EXPECT_EQ(child.output.find("stored=0\n"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("again=full"), std::string::npos) << child.output;
  auto stored_at = child.output.find("stored=");
  auto count_at = child.output.find("count=");
  ASSERT_NE(count_at, std::string::npos);
  EXPECT_EQ(child.output.substr(stored_at + 7, child.output.find('\n', stored_at) - stored_at - 7),
            child.output.substr(count_at + 6, child.output.find('\n', count_at) - count_at - 6))
      << "every stored decision is readable, no partial one: " << child.output;
}

TEST(AuditFailureModes, PageLimitFullThenPruneMakesRoom) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  OpenOptions options;
  options.max_pages = 60;
  auto opened = AuditStore::open(path, options);
  ASSERT_TRUE(opened.status.ok()) << opened.status.message;
  auto record = sample_record("bob", "deny", now_utc_us() - 100 * 86400LL * 1000000);
  record.reason = std::string(1500, 'x');
  Status status;
  int stored = 0;
  for (int i = 0; i < 1000 && status.ok(); ++i) {
    status = opened.store->write(record);
    if (status.ok()) ++stored;
  }
  EXPECT_EQ(status.code, StatusCode::full) << status.message;
  EXPECT_GT(stored, 10);
  EXPECT_EQ(after_write(status, true), AfterWrite::deny_and_warn);
  std::vector<StoredDecision> rows;
  DecisionFilter all;
  all.limit = 0;
  ASSERT_TRUE(opened.store->list(all, &rows).ok());
  EXPECT_EQ(static_cast<int>(rows.size()), stored);
  std::int64_t removed = 0;
  ASSERT_TRUE(opened.store->prune(now_utc_us() - 90 * 86400LL * 1000000, &removed).ok());
  EXPECT_EQ(removed, stored);
  EXPECT_TRUE(opened.store->write(sample_record("bob", "deny")).ok());
}

TEST(AuditFailureModes, MissingFolderIsCreatedOnlyOneLevelDeep) {
  TempFolder temp;
  Status status = record_decision(temp.file("a/b/audit.db"), {}, sample_record("bob", "deny"));
  EXPECT_EQ(status.code, StatusCode::cannot_open);
  EXPECT_NE(status.message.find("cannot create folder"), std::string::npos) << status.message;
  EXPECT_NE(status.message.find("No such file or directory"), std::string::npos);
  EXPECT_EQ(after_write(status, false), AfterWrite::keep_decision_and_warn);
  EXPECT_EQ(after_write(status, true), AfterWrite::deny_and_warn);
  EXPECT_TRUE(record_decision(temp.file("a/audit.db"), {}, sample_record("bob", "deny")).ok());
}

TEST(AuditFailureModes, NotAFolderOrEmptyPath) {
  TempFolder temp;
  std::ofstream(temp.file("plain")) << "x";
  EXPECT_EQ(record_decision(temp.file("plain/audit.db"), {}, sample_record("bob", "deny")).code,
            StatusCode::cannot_open);
  EXPECT_EQ(record_decision("", {}, sample_record("bob", "deny")).code,
            StatusCode::invalid_argument);
}

}  // namespace
}  // namespace authpolicy::audit
