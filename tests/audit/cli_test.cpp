// `authpolicy audit` through its run function: filters, formats, summary, prune, verify, errors.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "audit/audit_store.h"
#include "audit_command_support.h"
#include "audit_test_support.h"
#include "cli/audit_command.h"
#include "cli/command_registry.h"

namespace authpolicy::cli {
namespace {

using audit::testing::CommandRun;
using audit::testing::kMinute;
using audit::testing::sample_record;

class AuditCommand : public audit::testing::AuditLogTest {
 protected:
  void SetUp() override {
    std::int64_t now = audit::now_utc_us();
    auto opened = audit::AuditStore::open(db_, {});
    ASSERT_TRUE(opened.status.ok()) << opened.status.message;
    auto& store = *opened.store;
    auto bob = sample_record("bob", "deny", now - 5 * kMinute, "10.1.2.3");
    bob.reason = "password failed, \"twice\"";
    bob.factors = {{"password", "fail", "wrong password", 10}};
    ASSERT_TRUE(store.write(bob).ok());
    auto alice = sample_record("alice", "permit", now - 4 * kMinute, "2001:db8::7");
    ASSERT_TRUE(store.write(alice).ok());
    auto sudo = sample_record("alice", "deny", now - 3 * kMinute, "");
    sudo.service = "sudo";
    sudo.factors = {{"password", "pass", "", 10}, {"pin", "fail", "wrong PIN", 10}};
    ASSERT_TRUE(store.write(sudo).ok());
    auto old = sample_record("carol", "deny", now - 40 * 86400LL * 1000000, "192.0.2.9");
    ASSERT_TRUE(store.write(old).ok());
    auto evil = sample_record("evil\x1b[2J", "deny", now - 2 * kMinute, "198.51.100.66");
    ASSERT_TRUE(store.write(evil).ok());
  }

  CommandRun run(std::vector<std::string> args) { return run_on_log(std::move(args)); }
  CommandRun run_raw(const std::vector<std::string>& args) {
    return audit::testing::run_audit(args);
  }
  // Users in output order, from the JSON rows.
  static std::string users_in(const std::string& json) {
    std::string users;
    for (std::size_t at = json.find("\"user\":\""); at != std::string::npos;
         at = json.find("\"user\":\"", at + 1)) {
      auto start = at + 8;
      users += json.substr(start, json.find('"', start) - start) + " ";
    }
    return users;
  }
};

TEST_F(AuditCommand, RegistersItself) {
  auto& registry = command_registry();
  ASSERT_TRUE(registry.contains("audit"));
  std::ostringstream out, err;
  EXPECT_EQ(registry["audit"].run({"--help"}, out, err), 0);
  EXPECT_NE(out.str().find("authpolicy audit summary"), std::string::npos);
}

TEST_F(AuditCommand, TableNewestFirstAndSafeForTerminals) {
  CommandRun result = run({});
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_TRUE(result.out.starts_with("TIME (UTC)")) << result.out;
  auto evil = result.out.find("evil\\x1b[2J");
  auto alice = result.out.find("alice");
  auto bob = result.out.find("bob");
  auto carol = result.out.find("carol");
  EXPECT_NE(evil, std::string::npos) << "escape bytes are shown, not sent: " << result.out;
  EXPECT_EQ(result.out.find('\x1b'), std::string::npos);
  EXPECT_LT(evil, alice);
  EXPECT_LT(alice, bob);
  EXPECT_LT(bob, carol);
  EXPECT_NE(result.out.find("password:pass pin:fail"), std::string::npos) << result.out;
}

TEST_F(AuditCommand, FiltersCombine) {
  auto users = [&](std::vector<std::string> args) {
    args.push_back("--format");
    args.push_back("json");
    CommandRun result = run(std::move(args));
    EXPECT_EQ(result.code, 0) << result.err;
    return users_in(result.out);
  };
  EXPECT_EQ(users({"--failed", "--since", "1h"}), "evil\\u001b[2J alice bob ");
  EXPECT_EQ(users({"--user", "alice"}), "alice alice ");
  EXPECT_EQ(users({"--service", "sudo"}), "alice ");
  EXPECT_EQ(users({"--rhost", "10.0.0.0/8"}), "bob ");
  EXPECT_EQ(users({"--rhost", "::ffff:10.1.2.3"}), "bob ");
  EXPECT_EQ(users({"--rhost", "2001:db8::/32"}), "alice ");
  EXPECT_EQ(users({"--since", "30d"}), "evil\\u001b[2J alice alice bob ");
  EXPECT_EQ(users({"--until", "1h"}), "carol ");
  EXPECT_EQ(users({"--limit", "2"}), "evil\\u001b[2J alice ");
  EXPECT_EQ(users({"--since=1h", "--failed", "--user=bob"}), "bob ");
  std::string tomorrow =
      audit::format_utc_iso(audit::now_utc_us() + 86400LL * 1000000).substr(0, 10);
  EXPECT_EQ(users({"--since", tomorrow}), "");
}

TEST_F(AuditCommand, OptionsMayComeBeforeTheAction) {
  // `audit --limit 3 list` reads as `audit list --limit 3`, with values that look like actions.
  CommandRun before = run({"--limit", "2", "--format", "json", "list"});
  ASSERT_EQ(before.code, 0) << before.err;
  EXPECT_EQ(users_in(before.out), "evil\\u001b[2J alice ");
  CommandRun summary = run({"--since", "1h", "summary"});
  ASSERT_EQ(summary.code, 0) << summary.err;
  EXPECT_NE(summary.out.find("bob"), std::string::npos) << summary.out;
  CommandRun value_named_like_an_action = run({"--user", "list", "--format", "json"});
  ASSERT_EQ(value_named_like_an_action.code, 0) << value_named_like_an_action.err;
  EXPECT_EQ(users_in(value_named_like_an_action.out), "");
  EXPECT_EQ(run({"--failed", "summary"}).code, 2) << "summary still refuses --failed";
}

TEST_F(AuditCommand, JsonRowsCarryTheRequiredFields) {
  CommandRun result = run({"--user", "alice", "--service", "sudo", "--format", "json"});
  ASSERT_EQ(result.code, 0) << result.err;
  for (const char* field : {"\"time\":\"", "\"service\":\"sudo\"", "\"user\":\"alice\"",
                            "\"rhost\":\"\"", "\"decision\":\"deny\"", "\"reason\":",
                            "\"factors\":[{\"name\":\"password\",\"outcome\":\"pass\""}) {
    EXPECT_NE(result.out.find(field), std::string::npos) << field << " in " << result.out;
  }
  EXPECT_NE(result.out.find("{\"name\":\"pin\",\"outcome\":\"fail\",\"detail\":\"wrong PIN\""),
            std::string::npos);
  EXPECT_TRUE(result.out.starts_with("[\n{")) << result.out;
  EXPECT_TRUE(result.out.ends_with("}\n]\n"));
  CommandRun none = run({"--user", "nobody", "--format", "json"});
  EXPECT_EQ(none.out, "[]\n");
}

TEST_F(AuditCommand, CsvIsQuotedProperly) {
  CommandRun result = run({"--user", "bob", "--format", "csv"});
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_TRUE(result.out.starts_with("time,service,user,ruser,rhost,")) << result.out;
  EXPECT_NE(result.out.find(",\"password failed, \"\"twice\"\"\",password:fail:wrong password,"),
            std::string::npos)
      << result.out;
  int lines = 0;
  for (char c : result.out) lines += c == '\n';
  EXPECT_EQ(lines, 2);
}

TEST_F(AuditCommand, SummaryGroupsFailures) {
  CommandRun result = run({"summary"});
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_NE(result.out.find("Failures: 4 of 5 decisions"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("FAILURES  USER"), std::string::npos);
  EXPECT_NE(result.out.find("(local)"), std::string::npos);
  EXPECT_NE(result.out.find("FAILURES  FACTOR"), std::string::npos);

  CommandRun recent = run({"summary", "--since", "1h", "--format", "json"});
  ASSERT_EQ(recent.code, 0) << recent.err;
  EXPECT_NE(recent.out.find("\"decisions\":4,\"failures\":3"), std::string::npos) << recent.out;
  EXPECT_NE(recent.out.find("\"by_service\":[{\"service\":\"sshd\",\"failures\":2},"
                            "{\"service\":\"sudo\",\"failures\":1}]"),
            std::string::npos)
      << recent.out;
  EXPECT_NE(recent.out.find("\"by_factor\":[{\"factor\":\"password\",\"failures\":2},"
                            "{\"factor\":\"pin\",\"failures\":1}]"),
            std::string::npos)
      << recent.out;
}

TEST_F(AuditCommand, PruneRemovesOldRows) {
  CommandRun result = run({"prune", "--older-than", "30d"});
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_TRUE(result.out.starts_with("pruned 1 decisions older than")) << result.out;
  EXPECT_EQ(users_in(run({"--format", "json"}).out), "evil\\u001b[2J alice alice bob ");
  EXPECT_TRUE(run({"prune"}).out.starts_with("pruned 0 decisions"));
  EXPECT_EQ(run({"prune", "--older-than", "soon"}).code, 2);
}

TEST_F(AuditCommand, VerifyCleanCorruptAndMissing) {
  CommandRun clean = run({"verify"});
  EXPECT_EQ(clean.code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find(": ok"), std::string::npos);

  std::string junk_path = temp_.file("junk.db");
  std::ofstream(junk_path) << std::string(8192, 'J');
  chmod(junk_path.c_str(), 0600);
  CommandRun corrupt = run_raw({"verify", "--db", junk_path});
  EXPECT_EQ(corrupt.code, 1) << corrupt.out << corrupt.err;
  EXPECT_NE(corrupt.out.find("not a database"), std::string::npos) << corrupt.out;

  CommandRun missing = run_raw({"verify", "--db", temp_.file("missing.db")});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no audit database at"), std::string::npos) << missing.err;
}

// audit reads its arguments as every authpolicy command does (cli/args.h): --help anywhere,
// --opt=VALUE, "--", and usage errors worded "authpolicy audit: why" followed by the usage;
// the action word may still stand anywhere and picks the options it takes.
TEST_F(AuditCommand, ReadsArgumentsLikeEveryCommand) {
  for (const char* help : {"--help", "-h"}) {
    const CommandRun r = run({"summary", "--since", "1h", help});
    EXPECT_EQ(r.code, 0) << help;
    EXPECT_EQ(r.out.rfind("usage: authpolicy audit", 0), 0u) << r.out;
    EXPECT_EQ(r.err, "");
  }
  const CommandRun help_word = run({"help"});  // as "authpolicy totp help" and "u2f help"
  EXPECT_EQ(help_word.code, 0);
  EXPECT_EQ(help_word.out.rfind("usage: authpolicy audit", 0), 0u) << help_word.out;
  const CommandRun valued = run_raw({"--format=json", "--user=bob", "list", "--db=" + db_});
  EXPECT_EQ(valued.code, 0) << valued.err;
  EXPECT_EQ(users_in(valued.out), "bob ");
  const CommandRun after = run_raw({"--db", db_, "--format", "json", "--", "list"});
  EXPECT_EQ(after.code, 0) << after.err;

  const CommandRun unknown = run({"--colour"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(
      unknown.err.rfind("authpolicy audit: unknown option --colour\nusage: authpolicy audit", 0),
      0u)
      << unknown.err;
  const CommandRun missing = run_raw({"list", "--user"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_EQ(missing.err.rfind("authpolicy audit: --user needs a value\nusage:", 0), 0u)
      << missing.err;
  const CommandRun flag_value = run({"--failed=yes"});
  EXPECT_EQ(flag_value.code, 2);
  EXPECT_EQ(flag_value.err.rfind("authpolicy audit: --failed takes no value\n", 0), 0u)
      << flag_value.err;
  const CommandRun other_action = run({"--failed", "summary"});
  EXPECT_EQ(other_action.code, 2);
  EXPECT_EQ(
      other_action.err.rfind("authpolicy audit: unknown option --failed for audit summary\n", 0),
      0u)
      << other_action.err;
}

TEST_F(AuditCommand, UsageAndUnreadableDatabaseExitTwo) {
  CommandRun unknown_option = run({"--colour"});
  EXPECT_EQ(unknown_option.code, 2);
  EXPECT_NE(unknown_option.err.find("unknown option --colour"), std::string::npos);
  EXPECT_EQ(run({"--format", "xml"}).code, 2);
  EXPECT_EQ(run({"--since", "last tuesday"}).code, 2);
  EXPECT_EQ(run({"--limit", "-3"}).code, 2);
  CommandRun bad_cidr = run({"--rhost", "10.1.2.3/8"});
  EXPECT_EQ(bad_cidr.code, 2);
  EXPECT_NE(bad_cidr.err.find("host bits"), std::string::npos);
  EXPECT_EQ(run({"summary", "--failed"}).code, 2);
  EXPECT_EQ(run({"frobnicate"}).code, 2);
  EXPECT_EQ(run_raw({"--user"}).code, 2);

  CommandRun missing = run_raw({"--db", temp_.file("missing.db")});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no audit database at"), std::string::npos) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(temp_.file("missing.db"))) << "listing must not create";

  std::string junk_path = temp_.file("junk.db");
  std::ofstream(junk_path) << std::string(8192, 'J');
  chmod(junk_path.c_str(), 0600);
  CommandRun corrupt = run_raw({"summary", "--db", junk_path});
  EXPECT_EQ(corrupt.code, 2);
  EXPECT_NE(corrupt.err.find("not a database"), std::string::npos) << corrupt.err;
}

// Runs the command with no --db in a private mount namespace whose /var/lib is an empty tmpfs,
// optionally holding an empty /var/lib/authpolicy: what a fresh machine shows, whatever this
// machine's real /var/lib/authpolicy holds. Reports "code|stderr|what /var/lib holds after".
std::string audit_on_a_fresh_var_lib(bool with_folder) {
  auto child = audit::testing::run_in_child([&]() -> std::string {
    if (unshare(CLONE_NEWNS) != 0) return std::string("unshare: ") + strerror(errno);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return std::string("making / private: ") + strerror(errno);
    }
    if (mount("tmpfs", "/var/lib", "tmpfs", 0, "mode=0755") != 0) {
      return std::string("tmpfs on /var/lib: ") + strerror(errno);
    }
    if (with_folder && mkdir("/var/lib/authpolicy", 0700) != 0) return "mkdir failed";
    std::ostringstream out, err;
    int code = run_audit_command({"list", "--limit", "1"}, out, err);
    std::string after;
    for (const auto& entry : std::filesystem::recursive_directory_iterator("/var/lib")) {
      after += entry.path().string() + " ";
    }
    return std::to_string(code) + "|" + err.str() + "|" + after;
  });
  return child.output;
}

TEST_F(AuditCommand, OnAFreshMachineSaysThereIsNoLogYetAndCreatesNothing) {
  ASSERT_EQ(geteuid(), 0u) << "this test needs root: it makes a private mount namespace";
  EXPECT_FALSE(common_audit_db().has_value());
  const std::string path = audit::kDefaultDatabasePath;
  const std::string expected_line =
      "authpolicy audit: no audit database at " + path +
      " (no decision has been recorded on this host yet)\n";
  // No folder at all, as on a machine where the module never ran.
  EXPECT_EQ(audit_on_a_fresh_var_lib(false), "2|" + expected_line + "|");
  // The folder exists (the package made it) but no decision was recorded yet.
  std::string with_folder = audit_on_a_fresh_var_lib(true);
  EXPECT_EQ(with_folder.substr(0, 2), "2|") << with_folder;
  EXPECT_NE(with_folder.find("no audit database at " + path), std::string::npos) << with_folder;
  EXPECT_EQ(std::count(with_folder.begin(), with_folder.end(), '\n'), 1) << with_folder;
  EXPECT_TRUE(with_folder.ends_with("|/var/lib/authpolicy ")) << "nothing may be created: "
                                                               << with_folder;
}

TEST_F(AuditCommand, EveryActionButVerifyMovesTheSpoolInAndFlushSaysHowMany) {
  std::string ignored;
  ASSERT_TRUE(audit::append_decision(db_, {}, sample_record("dave", "deny"), &ignored).ok());
  ASSERT_TRUE(audit::append_decision(db_, {}, sample_record("dave", "deny"), &ignored).ok());
  auto verified = run({"verify"});
  EXPECT_EQ(verified.code, 0) << verified.out << verified.err;
  auto listed = run({"--user", "dave", "--format", "csv"});
  EXPECT_EQ(listed.code, 0) << listed.err;
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 3) << listed.out;  // + header
  ASSERT_TRUE(audit::append_decision(db_, {}, sample_record("erin", "deny"), &ignored).ok());
  auto flushed = run({"flush"});
  EXPECT_EQ(flushed.code, 0) << flushed.err;
  EXPECT_EQ(flushed.out, db_ + ": moved 1 decision from the spool into the log\n");
  flushed = run({"flush"});
  EXPECT_EQ(flushed.out, db_ + ": moved 0 decisions from the spool into the log\n");
  EXPECT_EQ(run({"flush", "--since", "1h"}).code, 2);
}

}  // namespace
}  // namespace authpolicy::cli
