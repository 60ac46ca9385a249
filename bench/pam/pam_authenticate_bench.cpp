// pam_authenticate through pam_policy.so in one process (pam_wrapper), against pam_matrix alone.
#include <benchmark/benchmark.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace {

const char* const kPassword = "alice-pass";

int answer_password(int count, const pam_message** messages, pam_response** responses, void*) {
  auto* out =
      static_cast<pam_response*>(calloc(static_cast<std::size_t>(count), sizeof(pam_response)));
  if (!out) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    const int style = messages[i]->msg_style;
    if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON)
      out[i].resp = strdup(kPassword);
  }
  *responses = out;
  return PAM_SUCCESS;
}

void write_root_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path, std::ios::trunc) << text;
  if (chown(path.c_str(), 0, 0) != 0 || chmod(path.c_str(), mode) != 0) {
    std::fprintf(stderr, "cannot make %s root-owned: run as root\n", path.c_str());
    std::exit(2);
  }
}

void authenticate_loop(benchmark::State& state, const char* service, int expected) {
  pam_conv conversation{answer_password, nullptr};
  for (auto _ : state) {
    pam_handle_t* pamh = nullptr;
    if (pam_start(service, "alice", &conversation, &pamh) != PAM_SUCCESS) {
      state.SkipWithError("pam_start failed");
      break;
    }
    const int rc = pam_authenticate(pamh, 0);
    pam_end(pamh, rc);
    if (rc != expected) {
      state.SkipWithError(pam_strerror(nullptr, rc));
      break;
    }
  }
}

void BM_PolicyPasswordViaMatrix(benchmark::State& state) {
  authenticate_loop(state, "bench_policy", PAM_SUCCESS);
}
BENCHMARK(BM_PolicyPasswordViaMatrix)->Unit(benchmark::kMicrosecond);

void BM_MatrixAlone(benchmark::State& state) {
  authenticate_loop(state, "bench_matrix", PAM_SUCCESS);
}
BENCHMARK(BM_MatrixAlone)->Unit(benchmark::kMicrosecond);

// A policy of about 1 MiB: a block list of about 76,000 addresses (issue #13 item 7 measured such a
// policy at 0.34 s per call, parsed and analysed every time). FirstCall: a new handle each time;
// libpam unloads the module at pam_end, and its policy cache with it, so every call reads, parses
// and analyses the file. LaterCall: the same handle again (as account and setcred of one login,
// and logins while the module stays loaded): the cache re-walks and fstats the file only.
void BM_LargePolicyFirstCall(benchmark::State& state) {
  authenticate_loop(state, "bench_large", PAM_SUCCESS);
}
BENCHMARK(BM_LargePolicyFirstCall)->Unit(benchmark::kMillisecond);

void BM_LargePolicyLaterCall(benchmark::State& state) {
  pam_conv conversation{answer_password, nullptr};
  pam_handle_t* pamh = nullptr;
  if (pam_start("bench_large", "alice", &conversation, &pamh) != PAM_SUCCESS) {
    state.SkipWithError("pam_start failed");
    return;
  }
  int rc = pam_authenticate(pamh, 0);  // the first call, outside the timing: loads the cache
  for (auto _ : state) {
    rc = pam_authenticate(pamh, 0);
    if (rc != PAM_SUCCESS) {
      state.SkipWithError(pam_strerror(pamh, rc));
      break;
    }
  }
  pam_end(pamh, rc);
}
BENCHMARK(BM_LargePolicyLaterCall)->Unit(benchmark::kMillisecond);

std::string large_policy(const std::string& run) {
  std::string text = std::string("factor password { module = \"") + AP_BENCH_MATRIX +
                     "\"; arguments = \"passdb=" + run + "/passdb\" }\nset blocked = { ";
  for (int i = 0; text.size() < 1000000; ++i) {
    if (i > 0) text += ", ";
    text += "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
            std::to_string(i & 255);
  }
  return text + " }\ndeny if rhost in blocked\nauth password\n";
}

}  // namespace

int main(int argc, char** argv) {
  const char* wrapped = std::getenv("PAM_WRAPPER");
  if (!wrapped || std::strcmp(wrapped, "1") != 0) {
    setenv("LD_PRELOAD", AP_BENCH_PRELOAD, 1);
    setenv("PAM_WRAPPER", "1", 1);
    setenv("PAM_WRAPPER_SERVICE_DIR", AP_BENCH_SERVICE_DIR, 1);
    execv("/proc/self/exe", argv);
    std::perror("re-executing under pam_wrapper failed");
    return 2;
  }
  const std::string run = AP_BENCH_RUN_DIR;
  write_root_file(run + "/passdb",
                  "alice:alice-pass:bench_policy\nalice:alice-pass:bench_matrix\n"
                  "alice:alice-pass:bench_large\n",
                  0600);
  write_root_file(run + "/bench.pol",
                  std::string("factor password { module = \"") + AP_BENCH_MATRIX +
                      "\"; arguments = \"passdb=" + run + "/passdb\" }\nauth password\n",
                  0644);
  write_root_file(run + "/large.pol", large_policy(run), 0644);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
