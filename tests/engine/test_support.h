// Shared helpers for engine tests: running the CLI, temporary folders, loading policy text.
#pragma once

#include <string>
#include <vector>

#include "engine/load.h"
#include "tests/support/temp_folder.h"

namespace authpolicy::test {

struct RunResult {
  int exit_code = -1;
  std::string out;  // standard output and standard error, interleaved
};

// Runs `authpolicy ARGS...` (the binary of this build) in `folder`, capturing its output.
RunResult run_cli(const std::vector<std::string>& args, const std::string& folder = ".");

// A fresh folder under $TMPDIR, removed with everything in it when the object goes away.
using TempDir = test_support::TempFolder;

// Loads policy text as if it were a file (no ownership checks).
LoadResult load_text(const std::string& text);

std::string source_dir();
std::string read_file(const std::string& path);

}  // namespace authpolicy::test
