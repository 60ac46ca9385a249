// A private view of /etc and /var/lib for test programs that run pam_policy.so through libpam:
// what the module and the CLI write at their defaults (the audit log in /var/lib/authpolicy, a
// service file in /etc/pam.d) goes to a throw-away overlay, and the view starts as on a machine
// where the project never ran (no /var/lib/authpolicy, no /etc/authpolicy). /run/systemd is an
// empty tmpfs, so decisions never reach a journald of the host.
#pragma once

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace authpolicy::test_support {

class PrivateSystemView {
 public:
  // Enters a private mount namespace (the calling process and the children it starts after this)
  // with overlays on /etc and /var/lib whose changes vanish with it. Call it while the process
  // has one thread. Returns an empty string, or what failed (then nothing must run).
  std::string enter() {
    if (geteuid() != 0) return "a private mount namespace needs root";
    if (unshare(CLONE_NEWNS) != 0) return failed("unshare(CLONE_NEWNS)");
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return failed("making / private");
    }
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ap-system-view-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return failed("mkdtemp");
    scratch_ = pattern;
    if (mount("ap-system-view", scratch_.c_str(), "tmpfs", 0, "mode=0700") != 0) {
      return failed("tmpfs on " + scratch_);
    }
    for (const char* top : {"/etc", "/var/lib"}) {
      const std::string name = std::string(top + 1) == "etc" ? "etc" : "var-lib";
      const std::string upper = scratch_ + "/" + name + ".upper";
      const std::string work = scratch_ + "/" + name + ".work";
      if (mkdir(upper.c_str(), 0755) != 0 || mkdir(work.c_str(), 0700) != 0) {
        return failed("mkdir in " + scratch_);
      }
      const std::string options = "lowerdir=" + std::string(top) + ",upperdir=" + upper +
                                  ",workdir=" + work;
      if (mount("ap-system-view", top, "overlay", 0, options.c_str()) != 0) {
        return failed(std::string("overlay on ") + top);
      }
    }
    // The module sends each decision to journald's socket unless a policy says otherwise: an
    // empty /run/systemd here, so no test reaches the host's journal (the journal tests start
    // their own journald, listening in a folder of their own).
    struct stat run_systemd {};
    if (stat("/run/systemd", &run_systemd) == 0 &&
        mount("ap-system-view", "/run/systemd", "tmpfs", 0, "mode=0755") != 0) {
      return failed("tmpfs on /run/systemd");
    }
    std::error_code ignored;
    std::filesystem::remove_all("/var/lib/authpolicy", ignored);
    std::filesystem::remove_all("/etc/authpolicy", ignored);
    if (std::filesystem::exists("/var/lib/authpolicy") || std::filesystem::exists("/etc/authpolicy")) {
      return "could not hide /var/lib/authpolicy and /etc/authpolicy in the private view";
    }
    return {};
  }

  ~PrivateSystemView() {
    if (scratch_.empty()) return;
    umount2(scratch_.c_str(), MNT_DETACH);
    rmdir(scratch_.c_str());  // the host sees only this empty folder
  }

 private:
  static std::string failed(const std::string& what) {
    return what + " failed: " + std::strerror(errno);
  }
  std::string scratch_;
};

}  // namespace authpolicy::test_support

namespace authpolicy::test_support {

// For a test program's start: enters the view or stops the program, naming what failed. The view
// stays for the rest of the process (and is taken down with it).
inline void enter_private_system_view_or_exit() {
  static PrivateSystemView view;
  const std::string failure = view.enter();
  if (failure.empty()) return;
  std::fprintf(stderr, "cannot make the private view of /etc and /var/lib: %s\n", failure.c_str());
  std::exit(2);
}

}  // namespace authpolicy::test_support
