// In-process PIN verification cost on swtpm: the full store path against the bare TPM read.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "factors/tpm/pin_store.h"
#include "tests/tpm/swtpm_fixture.h"

namespace {

using namespace authpolicy;
using namespace authpolicy::tpm;

// One swtpm for the whole program, with a PIN for uid 1000 that never locks during a run.
struct Bench {
  testing::Swtpm swtpm;
  std::unique_ptr<PinStore> store;
  Bench() {
    TpmConfig config;
    config.tcti = swtpm.tcti();
    store = std::make_unique<PinStore>(config);
    store->setup(1000, SecretString("1234"), 1000);
  }
};

Bench& bench() {
  static Bench instance;
  return instance;
}

// Connect, check the public area, owner read of the counter, HMAC session, NV_Read, flush.
void BM_VerifyCorrectPin(benchmark::State& state) {
  SecretString pin("1234");
  for (auto _ : state) {
    const VerifyOutcome outcome = bench().store->verify(1000, pin);
    if (outcome.result != VerifyResult::correct) state.SkipWithError("verification failed");
  }
}
BENCHMARK(BM_VerifyCorrectPin)->Unit(benchmark::kMillisecond);

// A wrong PIN also reads the counter again for the "attempts left" message.
void BM_VerifyWrongThenCorrect(benchmark::State& state) {
  SecretString wrong("0000"), right("1234");
  for (auto _ : state) {
    bench().store->verify(1000, wrong);
    bench().store->verify(1000, right);
  }
}
BENCHMARK(BM_VerifyWrongThenCorrect)->Unit(benchmark::kMillisecond);

void BM_Status(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bench().store->status(1000));
}
BENCHMARK(BM_Status)->Unit(benchmark::kMillisecond);

// The floor: one open connection, HMAC session + NV_Read + flush, no checks.
void BM_BareNvReadOnOpenConnection(benchmark::State& state) {
  std::string error;
  std::optional<TpmConnection> connection = TpmConnection::open(bench().swtpm.tcti(), &error);
  if (!connection) {
    state.SkipWithError(error.c_str());
    return;
  }
  ESYS_CONTEXT* esys = connection->esys();
  ESYS_TR index = ESYS_TR_NONE;
  Esys_TR_FromTPMPublic(esys, 0x01000000 + 1000, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &index);
  TPM2B_AUTH auth{};
  auth.size = 4;
  std::memcpy(auth.buffer, "1234", 4);
  Esys_TR_SetAuth(esys, index, &auth);
  TPMT_SYM_DEF sym{};
  sym.algorithm = TPM2_ALG_NULL;
  for (auto _ : state) {
    ESYS_TR session = ESYS_TR_NONE;
    Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                          ESYS_TR_NONE, nullptr, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &session);
    TPM2B_MAX_NV_BUFFER* data = nullptr;
    if (Esys_NV_Read(esys, index, index, session, ESYS_TR_NONE, ESYS_TR_NONE, 8, 0, &data) !=
        TSS2_RC_SUCCESS) {
      state.SkipWithError("NV_Read failed");
    }
    Esys_Free(data);
    Esys_FlushContext(esys, session);
  }
  Esys_TR_Close(esys, &index);
}
BENCHMARK(BM_BareNvReadOnOpenConnection)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
