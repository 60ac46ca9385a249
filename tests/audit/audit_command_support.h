// Shared by the tests of `authpolicy audit` (cli_test.cpp, export_test.cpp): one run of the command
// through its run function, with what it printed, and a fixture with a log of its own.
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "audit/audit_store.h"
#include "audit_test_support.h"
#include "cli/audit_command.h"

namespace authpolicy::audit::testing {

struct CommandRun {
  int code;
  std::string out;
  std::string err;
};

// `authpolicy audit ARGS...`.
inline CommandRun run_audit(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int code = cli::run_audit_command(args, out, err);
  return {code, out.str(), err.str()};
}

// A test with an audit log (db_) in its own temporary folder (temp_).
class AuditLogTest : public ::testing::Test {
 protected:
  // Writes `record` to the log (a fatal failure when it cannot).
  void add(const AuditRecord& record) {
    auto opened = AuditStore::open(db_, {});
    ASSERT_TRUE(opened.status.ok()) << opened.status.message;
    ASSERT_TRUE(opened.store->write(record).ok());
  }
  // `authpolicy audit ARGS... --db DB`.
  CommandRun run_on_log(std::vector<std::string> args) const {
    args.push_back("--db");
    args.push_back(db_);
    return run_audit(args);
  }

  TempFolder temp_;
  std::string db_ = temp_.file("audit.db");
};

}  // namespace authpolicy::audit::testing
