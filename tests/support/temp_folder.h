// A private temporary folder for tests, removed with everything in it; shared by every suite.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace authpolicy::test_support {

// mkdtemp makes the folder 0700 and owned by the caller, so policy and log files written into it
// pass the ownership checks when the tests run as root.
class TempFolder {
 public:
  explicit TempFolder(const std::string& prefix = "ap-test") {
    std::string pattern =
        (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + pattern);
    path_ = pattern;
  }
  ~TempFolder() {
    if (keep_) {
      std::fprintf(stderr, "kept %s for inspection\n", path_.c_str());
      return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  // Writes `content` to `name` (creating sub-folders) with `mode`; returns the file's path.
  std::string write(const std::string& name, const std::string& content, mode_t mode = 0644) const {
    const std::string target = file(name);
    std::filesystem::create_directories(std::filesystem::path(target).parent_path());
    {
      std::ofstream out(target, std::ios::binary | std::ios::trunc);
      out << content;
    }
    chmod(target.c_str(), mode);
    return target;
  }

  // The names in the folder (not recursive).
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  // Leaves the folder in place when the object goes, for a failed test's inspection.
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

}  // namespace authpolicy::test_support
