// The PinFail index protocol on a real swtpm, with tpm2-tools as the independent peer.
#include "factors/tpm/pin_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>

#include "tests/tpm/swtpm_fixture.h"

namespace authpolicy::tpm {
namespace {

using testing::run_tpm2_tool;
using testing::Swtpm;

constexpr uid_t kUid = 1000;
constexpr std::uint32_t kIndex = 0x01000000 + kUid;

class PinStoreTest : public ::testing::Test {
 protected:
  PinStoreTest() : store_(config()) {}
  TpmConfig config() const {
    TpmConfig c;
    c.tcti = swtpm_.tcti();
    return c;
  }
  // tpm2-tools with the fixture's TCTI; returns the exit status.
  int tool(const std::string& command, std::string* output = nullptr) {
    return run_tpm2_tool(swtpm_.tcti(), command, output);
  }
  // Sessions still loaded in the TPM (raw swtpm keeps leaked ones until reset).
  std::string loaded_sessions() {
    std::string out;
    EXPECT_EQ(tool("tpm2_getcap handles-loaded-session", &out), 0) << out;
    return out;
  }

  Swtpm swtpm_;
  PinStore store_;
};

SecretString pin(const char* text) {
  return SecretString(text);
}

TEST_F(PinStoreTest, SetupWritesAPinFailIndexThatTpm2ToolsSees) {
  ASSERT_EQ(store_.setup(kUid, pin("1234"), 5).result, SetupResult::created);
  std::string out;
  ASSERT_EQ(tool("tpm2_nvreadpublic 0x10003e8", &out), 0) << out;
  EXPECT_NE(out.find("value: 0x22060088"), std::string::npos) << out;  // + WRITTEN
  EXPECT_NE(out.find("policywrite|nt|ownerread|authread|no_da|written"), std::string::npos) << out;
  EXPECT_NE(out.find("B7AFECEE9BF7BCBD5078F264DE85F7E361DC84F745DA7EFA34E91FDAF200EE9B"),
            std::string::npos)
      << out;
  const PinStatus status = store_.status(kUid);
  EXPECT_EQ(status.state, PinStatus::State::enrolled);
  ASSERT_TRUE(status.counter);
  EXPECT_EQ(status.counter->used, 0u);
  EXPECT_EQ(status.counter->limit, 5u);
  EXPECT_EQ(store_.setup(kUid, pin("9999"), 5).result, SetupResult::already_enrolled);
}

TEST_F(PinStoreTest, WrongPinsCountAndTheCorrectPinResets) {
  ASSERT_EQ(store_.setup(kUid, pin("1234"), 5).result, SetupResult::created);
  EXPECT_EQ(store_.verify(kUid, pin("1234")).result, VerifyResult::correct);
  VerifyOutcome wrong = store_.verify(kUid, pin("0000"));
  EXPECT_EQ(wrong.result, VerifyResult::wrong);
  ASSERT_TRUE(wrong.counter);
  EXPECT_EQ(wrong.counter->used, 1u);
  wrong = store_.verify(kUid, pin("1111"));
  ASSERT_TRUE(wrong.counter);
  EXPECT_EQ(wrong.counter->used, 2u);
  EXPECT_EQ(wrong.counter->remaining(), 3u);
  const VerifyOutcome right = store_.verify(kUid, pin("1234"));
  EXPECT_EQ(right.result, VerifyResult::correct);
  ASSERT_TRUE(right.counter);
  EXPECT_EQ(right.counter->used, 0u);
  EXPECT_EQ(store_.status(kUid).counter->used, 0u);
  // Every session was flushed on the way, wrong PIN paths included.
  EXPECT_EQ(loaded_sessions().find("0x"), std::string::npos) << loaded_sessions();
}

TEST_F(PinStoreTest, LockoutAtTheLimitAndLockedCostsNothing) {
  ASSERT_EQ(store_.setup(kUid, pin("1234"), 3).result, SetupResult::created);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(store_.verify(kUid, pin("0000")).result, VerifyResult::wrong);
  const PinStatus status = store_.status(kUid);
  ASSERT_TRUE(status.counter);
  EXPECT_TRUE(status.counter->locked());
  // The right PIN no longer opens it, and asking does not move the counter.
  const VerifyOutcome locked = store_.verify(kUid, pin("1234"));
  EXPECT_EQ(locked.result, VerifyResult::locked);
  EXPECT_EQ(store_.verify(kUid, pin("0000")).result, VerifyResult::locked);
  EXPECT_EQ(store_.status(kUid).counter->used, 3u);
  // The TPM itself refuses too (tpm2-tools, PIN as authorisation).
  std::string out;
  EXPECT_NE(tool("tpm2_nvread 0x10003e8 -P 1234 -s 8", &out), 0);
  EXPECT_EQ(store_.status(kUid).counter->used, 3u);
  EXPECT_EQ(loaded_sessions().find("0x"), std::string::npos);
}

TEST_F(PinStoreTest, TpmRefusesTheLockedIndexWithoutOurPreCheck) {
  // Owner password set and unknown: no counter read, so the TPM's own AUTH_UNAVAILABLE shows.
  ASSERT_EQ(store_.setup(kUid, pin("1234"), 1).result, SetupResult::created);
  EXPECT_EQ(store_.verify(kUid, pin("0000")).result, VerifyResult::wrong);
  ASSERT_EQ(tool("tpm2_changeauth -c o ownerpw"), 0);
  const VerifyOutcome locked = store_.verify(kUid, pin("1234"));
  EXPECT_EQ(locked.result, VerifyResult::locked);
  EXPECT_FALSE(locked.counter);
  EXPECT_EQ(loaded_sessions().find("0x"), std::string::npos);
}

TEST_F(PinStoreTest, OwnerCannotRewriteTheCounter) {
  ASSERT_EQ(store_.setup(kUid, pin("1234"), 3).result, SetupResult::created);
  ASSERT_EQ(store_.verify(kUid, pin("0000")).result, VerifyResult::wrong);

  {  // Through ESAPI: owner authorisation, PIN authorisation, and the setup policy again.
    std::string error;
    std::optional<TpmConnection> connection = TpmConnection::open(swtpm_.tcti(), &error);
    ASSERT_TRUE(connection) << error;
    ESYS_CONTEXT* esys = connection->esys();
    ESYS_TR index = ESYS_TR_NONE;
    ASSERT_EQ(Esys_TR_FromTPMPublic(esys, kIndex, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &index),
              TSS2_RC_SUCCESS);
    TrCloseGuard guard(esys, index);
    TPM2B_MAX_NV_BUFFER zero{};
    zero.size = 8;
    zero.buffer[7] = 100;
    TSS2_RC rc = Esys_NV_Write(esys, ESYS_TR_RH_OWNER, index, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                               ESYS_TR_NONE, &zero, 0);
    EXPECT_EQ(classify_rc(rc), RcClass::not_permitted) << describe_rc(rc);
    TPM2B_AUTH auth{};
    auth.size = 4;
    std::memcpy(auth.buffer, "1234", 4);
    ASSERT_EQ(Esys_TR_SetAuth(esys, index, &auth), TSS2_RC_SUCCESS);
    rc = Esys_NV_Write(esys, index, index, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &zero, 0);
    EXPECT_NE(rc, TSS2_RC_SUCCESS);
    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_NULL;
    ESYS_TR session = ESYS_TR_NONE;
    ASSERT_EQ(Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    ESYS_TR_NONE, nullptr, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256,
                                    &session),
              TSS2_RC_SUCCESS);
    FlushGuard flush(esys, session);
    ASSERT_EQ(Esys_PolicyCommandCode(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     TPM2_CC_NV_Write),
              TSS2_RC_SUCCESS);
    // PolicyNvWritten(NO) no longer holds, so the policy itself fails.
    rc = Esys_PolicyNvWritten(esys, session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_NO);
    if (rc == TSS2_RC_SUCCESS) {
      rc = Esys_NV_Write(esys, index, index, session, ESYS_TR_NONE, ESYS_TR_NONE, &zero, 0);
    }
    EXPECT_NE(rc, TSS2_RC_SUCCESS);
  }
  // With tpm2-tools as the owner.
  const auto file = swtpm_.state_dir() / "zero.bin";
  { std::ofstream(file, std::ios::binary).write("\0\0\0\0\0\0\0\x64", 8); }
  std::string out;
  EXPECT_NE(tool("tpm2_nvwrite -C o 0x10003e8 -i " + file.string(), &out), 0) << out;
  EXPECT_NE(out.find("authorization"), std::string::npos) << out;

  const PinStatus status = store_.status(kUid);
  ASSERT_TRUE(status.counter);
  EXPECT_EQ(status.counter->used, 1u);
  EXPECT_EQ(status.counter->limit, 3u);
}

TEST_F(PinStoreTest, DeleteAndSetUpAgainResetsPinAndCounter) {
  ASSERT_EQ(store_.setup(kUid, pin("1234"), 2).result, SetupResult::created);
  for (int i = 0; i < 2; ++i) store_.verify(kUid, pin("0000"));
  EXPECT_EQ(store_.verify(kUid, pin("1234")).result, VerifyResult::locked);
  EXPECT_EQ(store_.remove(kUid).result, DeleteResult::deleted);
  EXPECT_EQ(store_.status(kUid).state, PinStatus::State::not_enrolled);
  EXPECT_EQ(store_.verify(kUid, pin("1234")).result, VerifyResult::not_enrolled);
  EXPECT_EQ(store_.remove(kUid).result, DeleteResult::not_enrolled);
  ASSERT_EQ(store_.setup(kUid, pin("5678"), 4).result, SetupResult::created);
  EXPECT_EQ(store_.verify(kUid, pin("1234")).result, VerifyResult::wrong);
  EXPECT_EQ(store_.verify(kUid, pin("5678")).result, VerifyResult::correct);
  EXPECT_EQ(store_.status(kUid).counter->limit, 4u);
}

TEST_F(PinStoreTest, HandMadeIndexWithoutThePolicyIsTampered) {
  // Same type and handle, but the owner can write it and no policy guards the counter.
  std::string out;
  ASSERT_EQ(tool("tpm2_nvdefine 0x10003e8 -C o -s 8 -p 1234 "
                 "-a 'nt=pinfail|ownerwrite|authread|ownerread|no_da'",
                 &out),
            0)
      << out;
  const auto file = swtpm_.state_dir() / "counter.bin";
  { std::ofstream(file, std::ios::binary).write("\0\0\0\0\0\0\0\x05", 8); }
  ASSERT_EQ(tool("tpm2_nvwrite 0x10003e8 -C o -i " + file.string(), &out), 0) << out;

  const PinStatus status = store_.status(kUid);
  EXPECT_EQ(status.state, PinStatus::State::tampered);
  EXPECT_NE(status.reason.find("attributes"), std::string::npos) << status.reason;
  const VerifyOutcome outcome = store_.verify(kUid, pin("1234"));
  EXPECT_EQ(outcome.result, VerifyResult::tampered);
  // The repair is delete and set up again.
  EXPECT_EQ(store_.remove(kUid).result, DeleteResult::deleted);
  EXPECT_EQ(store_.setup(kUid, pin("1234"), 5).result, SetupResult::created);
  EXPECT_EQ(store_.verify(kUid, pin("1234")).result, VerifyResult::correct);
}

TEST_F(PinStoreTest, RightAttributesWrongPolicyIsTampered) {
  // Exactly our attributes but a policy that lets a PolicyAuthValue rewrite the counter.
  std::string out;
  const auto policy = swtpm_.state_dir() / "policy.bin";
  ASSERT_EQ(
      tool("tpm2_startauthsession -S " + (swtpm_.state_dir() / "s.ctx").string() +
               " && tpm2_policyauthvalue -S " + (swtpm_.state_dir() / "s.ctx").string() + " -L " +
               policy.string() + " && tpm2_flushcontext " + (swtpm_.state_dir() / "s.ctx").string(),
           &out),
      0)
      << out;
  ASSERT_EQ(tool("tpm2_nvdefine 0x10003e8 -C o -s 8 -p 1234 -L " + policy.string() +
                     " -a 'nt=pinfail|policywrite|authread|ownerread|no_da'",
                 &out),
            0)
      << out;
  const PinStatus status = store_.status(kUid);
  EXPECT_EQ(status.state, PinStatus::State::tampered);
  EXPECT_EQ(store_.verify(kUid, pin("1234")).result, VerifyResult::tampered);
}

TEST_F(PinStoreTest, OtherKindOfIndexIsNeitherUsedNorDeleted) {
  std::string out;
  ASSERT_EQ(tool("tpm2_nvdefine 0x10003e8 -C o -s 8 -a 'ownerread|ownerwrite'", &out), 0) << out;
  EXPECT_EQ(store_.status(kUid).state, PinStatus::State::tampered);
  EXPECT_EQ(store_.remove(kUid).result, DeleteResult::not_a_pin_index);
  EXPECT_EQ(tool("tpm2_nvreadpublic 0x10003e8"), 0);
}

TEST_F(PinStoreTest, UidsOutsideTheIndexRangeAreRefused) {
  EXPECT_FALSE(store_.index_for(0x00C00000));
  const std::string why = "uid 4294967294 leaves the NV index range";
  const SetupOutcome setup = store_.setup(0xFFFFFFFE, pin("1234"), 5);
  EXPECT_EQ(setup.result, SetupResult::invalid_request);
  EXPECT_EQ(setup.reason, why);
  const VerifyOutcome verify = store_.verify(0xFFFFFFFE, pin("1234"));
  EXPECT_EQ(verify.result, VerifyResult::invalid_request);
  EXPECT_EQ(verify.reason, why);
  const PinStatus status = store_.status(0xFFFFFFFE);
  EXPECT_EQ(status.state, PinStatus::State::invalid_request);
  EXPECT_EQ(status.reason, why);
  EXPECT_EQ(store_.enrolment(0xFFFFFFFE).state, PinStatus::State::invalid_request);
  const DeleteOutcome remove = store_.remove(0xFFFFFFFE);
  EXPECT_EQ(remove.result, DeleteResult::invalid_request);
  EXPECT_EQ(remove.reason, why);
  EXPECT_EQ(store_.index_for(0x00BFFFFF), 0x01BFFFFFu);
  TpmConfig high = config();
  high.nv_base = 0x01BFFFF0;
  EXPECT_FALSE(PinStore(high).index_for(0x10));
  std::string error;
  Settings bad;
  bad.set("nv_base", std::string("0x81000000"));
  EXPECT_FALSE(tpm_config_from_settings(bad, &error));
  EXPECT_EQ(error, "tpm: nv_base must be an NV index between 0x01000000 and 0x01BFFFFF");
  Settings no_tcti;
  no_tcti.set("tcti", std::string());
  EXPECT_FALSE(tpm_config_from_settings(no_tcti, &error));
  EXPECT_EQ(error, "tpm: tcti must not be empty");
  Settings hex;
  hex.set("nv_base", std::string("0x01100000"));
  const auto read = tpm_config_from_settings(hex, &error);
  ASSERT_TRUE(read) << error;
  EXPECT_EQ(read->nv_base, 0x01100000u);
}

TEST_F(PinStoreTest, PinsTheTpmCannotHoldAreRefusedBeforeTheTpm) {
  SetupOutcome setup = store_.setup(kUid, pin(""), 5);
  EXPECT_EQ(setup.result, SetupResult::invalid_request);
  EXPECT_EQ(setup.reason, "the PIN is empty");
  setup = store_.setup(kUid, pin("123456789012345678901234567890123"), 5);
  EXPECT_EQ(setup.result, SetupResult::invalid_request);
  EXPECT_EQ(setup.reason, "the PIN is longer than 32 bytes");
  setup = store_.setup(kUid, SecretString(std::string_view("12\0004", 4)), 5);
  EXPECT_EQ(setup.result, SetupResult::invalid_request);
  EXPECT_EQ(setup.reason, "the PIN holds a NUL byte");
  setup = store_.setup(kUid, pin("1234"), 0);
  EXPECT_EQ(setup.result, SetupResult::invalid_request);
  EXPECT_EQ(setup.reason, "max_attempts must be at least 1");
  EXPECT_EQ(store_.status(kUid).state, PinStatus::State::not_enrolled);
  ASSERT_EQ(store_.setup(kUid, pin("12345678901234567890123456789012"), 5).result,
            SetupResult::created);
  EXPECT_EQ(store_.verify(kUid, pin("12345678901234567890123456789012")).result,
            VerifyResult::correct);
  // Nor does verify present one: no attempt is spent on a PIN the TPM cannot hold.
  const VerifyOutcome empty = store_.verify(kUid, pin(""));
  EXPECT_EQ(empty.result, VerifyResult::invalid_request);
  EXPECT_EQ(empty.reason, "the PIN is empty");
  const VerifyOutcome nul = store_.verify(kUid, SecretString(std::string_view("12\0004", 4)));
  EXPECT_EQ(nul.result, VerifyResult::invalid_request);
  EXPECT_EQ(nul.reason, "the PIN holds a NUL byte");
  EXPECT_EQ(store_.status(kUid).counter->used, 0u);
}

TEST_F(PinStoreTest, NotWrittenIndexIsTampered) {
  std::string out;
  const auto policy = swtpm_.state_dir() / "p.bin";
  // Our exact attributes and policy, but never written (an interrupted setup).
  std::ofstream(policy, std::ios::binary)
      .write(reinterpret_cast<const char*>(kPinIndexPolicy.data()), kPinIndexPolicy.size());
  ASSERT_EQ(
      tool("tpm2_nvdefine 0x10003e8 -C o -s 8 -p 1234 -L " + policy.string() + " -a 0x02060088",
           &out),
      0)
      << out;
  EXPECT_EQ(store_.status(kUid).reason, "index never written");
  EXPECT_EQ(store_.verify(kUid, pin("1234")).result, VerifyResult::tampered);
}

TEST_F(PinStoreTest, OwnerPasswordFromARootOnlyFile) {
  ASSERT_EQ(tool("tpm2_changeauth -c o s3cret"), 0);
  // Without the file, setup refuses before trying (no failed owner authorisation): a setting is
  // missing, which is a configuration problem, not a TPM failure.
  const std::string no_file =
      "owner authorisation: the TPM owner has a password; set tpm { owner_auth_file = … }";
  const SetupOutcome refused = store_.setup(kUid, pin("1234"), 5);
  EXPECT_EQ(refused.result, SetupResult::config_error);
  EXPECT_EQ(refused.reason, no_file);

  const auto file = swtpm_.state_dir() / "owner";
  { std::ofstream(file) << "s3cret\n"; }
  ::chmod(file.c_str(), 0644);
  TpmConfig with_file = config();
  with_file.owner_auth_file = file.string();
  const std::string readable = "tpm: owner_auth_file " + file.string() +
                               " must be a regular file owned by root with mode 0600 or 0400: ";
  const SetupOutcome world_readable = PinStore(with_file).setup(kUid, pin("1234"), 5);
  EXPECT_EQ(world_readable.result, SetupResult::config_error);
  EXPECT_EQ(world_readable.reason.rfind(readable, 0), 0u) << world_readable.reason;
  // Root reading the counter needs a good file too (the counter is not silently dropped).
  const PinStatus unreadable = PinStore(with_file).status(kUid);
  EXPECT_EQ(unreadable.state, PinStatus::State::not_enrolled);  // nothing to read yet
  ::chmod(file.c_str(), 0600);
  PinStore owner_store(with_file);
  ASSERT_EQ(owner_store.setup(kUid, pin("1234"), 5).result, SetupResult::created);
  EXPECT_EQ(owner_store.verify(kUid, pin("0000")).counter->used, 1u);
  // Without the password the PIN still verifies; only the counter is unknown.
  const VerifyOutcome blind = store_.verify(kUid, pin("1234"));
  EXPECT_EQ(blind.result, VerifyResult::correct);
  EXPECT_EQ(owner_store.status(kUid).counter->used, 0u);
  EXPECT_FALSE(store_.status(kUid).counter);
  ::chmod(file.c_str(), 0644);
  const PinStatus wrong_mode = PinStore(with_file).status(kUid);
  EXPECT_EQ(wrong_mode.state, PinStatus::State::config_error);
  EXPECT_EQ(wrong_mode.reason.rfind(readable, 0), 0u) << wrong_mode.reason;
  const VerifyOutcome wrong_mode_verify = PinStore(with_file).verify(kUid, pin("1234"));
  EXPECT_EQ(wrong_mode_verify.result, VerifyResult::config_error);
  EXPECT_EQ(wrong_mode_verify.reason, wrong_mode.reason);
  const DeleteOutcome wrong_mode_remove = PinStore(with_file).remove(kUid);
  EXPECT_EQ(wrong_mode_remove.result, DeleteResult::config_error);
  EXPECT_EQ(wrong_mode_remove.reason, wrong_mode.reason);
  const DeleteOutcome without_file = store_.remove(kUid);
  EXPECT_EQ(without_file.result, DeleteResult::config_error);
  EXPECT_EQ(without_file.reason, no_file);
  ::chmod(file.c_str(), 0600);
  EXPECT_EQ(owner_store.remove(kUid).result, DeleteResult::deleted);

  std::string error;
  const auto link = swtpm_.state_dir() / "owner-link";
  std::filesystem::create_symlink(file, link);
  EXPECT_FALSE(read_owner_auth_file(link.string(), &error));
  EXPECT_EQ(error.rfind("tpm: owner_auth_file " + link.string() + " must be a regular file", 0), 0u)
      << error;
  const auto missing = swtpm_.state_dir() / "no-owner-file";
  EXPECT_FALSE(read_owner_auth_file(missing.string(), &error));
  EXPECT_EQ(error.rfind("tpm: cannot open owner_auth_file " + missing.string() + ": ", 0), 0u)
      << error;
  const auto good = read_owner_auth_file(file.string(), &error);
  ASSERT_TRUE(good) << error;
  EXPECT_EQ(good->view(), "s3cret");  // the trailing newline dropped
}

TEST_F(PinStoreTest, TssMessagesNeverReachStderr) {
  // Each of these makes tpm2-tss log at WARNING or ERROR level by default.
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(store_.status(kUid).state, PinStatus::State::not_enrolled);
  ASSERT_EQ(store_.setup(kUid, pin("1234"), 5).result, SetupResult::created);
  EXPECT_EQ(store_.verify(kUid, pin("0000")).result, VerifyResult::wrong);
  swtpm_.kill();
  const VerifyOutcome unreachable = store_.verify(kUid, pin("1234"));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(unreachable.result, VerifyResult::tpm_error);
  EXPECT_EQ(unreachable.reason.rfind("cannot open TCTI " + swtpm_.tcti() + ": ", 0), 0u)
      << unreachable.reason;
}

TEST_F(PinStoreTest, SwtpmKilledDuringVerificationIsAnErrorWithoutHanging) {
  ASSERT_EQ(store_.setup(kUid, pin("1234"), 5).result, SetupResult::created);
  // Stopped swtpm: the verification connects and waits for an answer that never comes…
  swtpm_.pause();
  auto verification =
      std::async(std::launch::async, [this] { return store_.verify(kUid, pin("1234")); });
  EXPECT_EQ(verification.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  // …until the TPM dies under it.
  const auto killed_at = std::chrono::steady_clock::now();
  swtpm_.kill();
  ASSERT_EQ(verification.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, std::chrono::seconds(2));
  const VerifyOutcome outcome = verification.get();
  EXPECT_EQ(outcome.result, VerifyResult::tpm_error);
  // "<operation>: <decoded code>", the operation that was waiting when the TPM went away.
  EXPECT_NE(outcome.reason.find(": "), std::string::npos) << outcome.reason;
  // And with nothing listening at all.
  const PinStatus status = store_.status(kUid);
  EXPECT_EQ(status.state, PinStatus::State::tpm_error);
  EXPECT_EQ(status.reason.rfind("cannot open TCTI " + swtpm_.tcti() + ": ", 0), 0u)
      << status.reason;
}

}  // namespace
}  // namespace authpolicy::tpm
