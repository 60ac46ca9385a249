// A long-lived PAM host (issue #23): pam_start_confdir / pam_authenticate / pam_end in one process
// through the system's libpam (no pam_wrapper), with pam_policy.so (`auth password` ->
// pam_matrix, audit log on) and with pam_matrix alone. Besides the time per login, each reports
// how much the process grew over the timed logins (rss_growth_kib, and per 1000 logins), after
// 100 untimed ones. Run as root (the policy must be root-owned):
//   AP_LOOP_LOGINS=10000 BUILD/bench/pam/ap_bench_pam_loop
#include <benchmark/benchmark.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <string>

namespace {

const char* const kPassword = "loop-pass";
const char* const kUser = "nobody";

int answer_password(int count, const pam_message** messages, pam_response** responses, void*) {
  auto* out =
      static_cast<pam_response*>(calloc(static_cast<std::size_t>(count), sizeof(pam_response)));
  if (!out) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    const int style = messages[i]->msg_style;
    if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
      out[i].resp = strdup(kPassword);
    }
  }
  *responses = out;
  return PAM_SUCCESS;
}

long rss_kib() {
  long size = 0;
  long resident = -1;
  if (FILE* statm = std::fopen("/proc/self/statm", "re")) {
    if (std::fscanf(statm, "%ld %ld", &size, &resident) != 2) resident = -1;
    std::fclose(statm);
  }
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

void write_root_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path, std::ios::trunc) << text;
  if (chown(path.c_str(), 0, 0) != 0 || chmod(path.c_str(), mode) != 0) {
    std::fprintf(stderr, "cannot make %s root-owned: run as root\n", path.c_str());
    std::exit(2);
  }
}

// The service folder, policy, password file and audit folder, written once per process.
const std::string& confdir() {
  static const std::string folder = [] {
    char pattern[] = "/tmp/ap-bench-loop.XXXXXX";
    if (mkdtemp(pattern) == nullptr || chmod(pattern, 0755) != 0) std::exit(2);
    const std::string root = pattern;
    mkdir((root + "/pam.d").c_str(), 0755);
    mkdir((root + "/audit").c_str(), 0700);
    write_root_file(root + "/passdb",
                    std::string(kUser) + ":" + kPassword + ":loop_policy\n" + kUser + ":" +
                        kPassword + ":loop_matrix\n",
                    0644);
    write_root_file(root + "/loop.pol",
                    std::string("factor password { module = \"") + AP_BENCH_MATRIX +
                        "\"; arguments = \"passdb=" + root + "/passdb\" }\nauth password\n" +
                        "audit { db = \"" + root + "/audit/audit.db\" }\n",
                    0644);
    write_root_file(root + "/pam.d/loop_policy",
                    std::string("auth required ") + AP_BENCH_MODULE + " policy=" + root +
                        "/loop.pol\n",
                    0644);
    write_root_file(root + "/pam.d/loop_matrix",
                    std::string("auth required ") + AP_BENCH_MATRIX + " passdb=" + root +
                        "/passdb\n",
                    0644);
    write_root_file(root + "/pam.d/other", "auth required pam_deny.so\n", 0644);
    return root + "/pam.d";
  }();
  return folder;
}

bool login(const char* service) {
  const pam_conv conversation{answer_password, nullptr};
  pam_handle_t* pamh = nullptr;
  int rc = pam_start_confdir(service, kUser, &conversation, confdir().c_str(), &pamh);
  if (rc == PAM_SUCCESS) rc = pam_authenticate(pamh, 0);
  if (pamh != nullptr) pam_end(pamh, rc);
  return rc == PAM_SUCCESS;
}

void loop(benchmark::State& state, const char* service) {
  for (int i = 0; i < 100; ++i) {
    if (!login(service)) {
      state.SkipWithError("warm-up login failed");
      return;
    }
  }
  const long before = rss_kib();
  for (auto _ : state) {
    if (!login(service)) {
      state.SkipWithError("login failed");
      return;
    }
  }
  const double grown = static_cast<double>(rss_kib() - before);
  state.counters["rss_growth_kib"] = grown;
  state.counters["rss_growth_kib_per_1000"] =
      grown * 1000.0 / static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations()));
}

}  // namespace

// AP_LOOP_LOGINS timed logins each (default 10000): growth is measured over a fixed count.
int main(int argc, char** argv) {
  const char* logins = std::getenv("AP_LOOP_LOGINS");
  const long count = logins != nullptr ? std::atol(logins) : 10000;
  benchmark::RegisterBenchmark("BM_LongLivedHostPolicy",
                               [](benchmark::State& state) { loop(state, "loop_policy"); })
      ->Iterations(count)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("BM_LongLivedHostMatrixAlone",
                               [](benchmark::State& state) { loop(state, "loop_matrix"); })
      ->Iterations(count)
      ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
