// Bounded waits for the audit log's locks: sqlite's busy handler, a short jittered pause before a
// retry, and BEGIN IMMEDIATE retried while the operation's deadline allows.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <thread>

#include "audit/audit_store_impl.h"
#include "audit/time_text.h"

namespace authpolicy::audit {
namespace internal {

// sqlite's busy handler: keeps waiting only while the operation's deadline allows.
int busy_wait(void* context, int attempt) {
  auto* impl = static_cast<AuditStore::Impl*>(context);
  if (!impl->time_left()) return 0;
  impl->pause(attempt);
  return 1;
}

std::uint64_t jitter_seed() {
  return (static_cast<std::uint64_t>(getpid()) << 32) ^ static_cast<std::uint64_t>(now_utc_us()) ^
         0x9e3779b97f4a7c15ull;
}

void pause_before_retry(int attempt, std::chrono::steady_clock::time_point deadline,
                        std::uint64_t* jitter_state) {
  // Writers hold the lock for a fraction of a millisecond, so short pauses keep throughput high;
  // growth and jitter keep many waiting processes from retrying in lockstep.
  std::uint64_t& state = *jitter_state;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  int shift = attempt < 4 ? attempt : 4;
  auto base = std::chrono::microseconds(50 << shift);  // 0.05 ms .. 0.8 ms
  auto jitter = std::chrono::microseconds(state % static_cast<std::uint64_t>(base.count()));
  auto wait = base / 2 + jitter;
  auto remaining = std::chrono::duration_cast<std::chrono::microseconds>(
      deadline - std::chrono::steady_clock::now());
  if (remaining.count() <= 0) return;
  std::this_thread::sleep_for(wait < remaining ? wait : remaining);
}

Status begin_immediate(AuditStore::Impl& impl, const char* what) {
  for (int attempt = 0;; ++attempt) {
    const int rc = detail::exec(impl.db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) return Status::success();
    if ((rc & 0xff) == SQLITE_BUSY && impl.time_left()) {
      impl.pause(attempt);
      continue;
    }
    return detail::sqlite_failure(impl.db, rc, what, impl.path);
  }
}

}  // namespace internal

void AuditStore::Impl::pause(int attempt) {
  internal::pause_before_retry(attempt, deadline, &jitter_state);
}

}  // namespace authpolicy::audit
