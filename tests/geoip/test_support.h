// Support for the GeoIP tests: the real .mmdb files written by write_mmdb.pl, and running tools.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace authpolicy::geoip_test {

struct ProgramResult {
  bool started = false;  // false: the program could not be run at all
  int exit_code = -1;    // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) with the arguments as given, no shell, and collects output.
ProgramResult run_program(const std::vector<std::string>& argv);

// The full path of `name` in PATH, or nullopt.
std::optional<std::string> find_program(const std::string& name);

// A fresh private folder, removed with its contents when the test process ends.
std::string make_temp_dir();

// The folder holding every database of test_databases.json: the ctest fixture's folder
// (AP_GEOIP_TEST_DB_DIR) when it is complete, otherwise written now into a temporary folder.
// Empty on failure, with *error naming the missing tool or package.
std::string test_databases_dir(std::string* error);

// Tests that read the test databases; fails (never skips) when they cannot be written.
class GeoIpFilesTest : public ::testing::Test {
 protected:
  void SetUp() override;
  std::string db(const std::string& file) const { return dir_ + "/" + file; }

  std::string dir_;
};

}  // namespace authpolicy::geoip_test
