// The catalogue: every factor kind this build knows, one kit each (factors/<kind>/kit.cpp).
// Adding a kind: its folder with kit.h/kit.cpp (and CMakeLists.txt if it has a plugin or a
// command), one line here, one row in docs/language.md. See ARCHITECTURE.md.
#include "engine/factor_kit.h"
#include "factors/fingerprint/kit.h"
#include "factors/pam_delegate/kit.h"
#include "factors/password/kit.h"
#include "factors/totp/kit.h"
#include "factors/tpm/kit.h"
#include "factors/u2f/kit.h"

namespace authpolicy {

namespace {

constinit const FactorKit* const kCatalogue[] = {
    &password_kit, &pin_kit, &u2f_kit, &totp_kit, &fingerprint_kit, &pam_kit,
};

}  // namespace

std::span<const FactorKit* const> factor_catalogue() noexcept { return kCatalogue; }

const FactorKit* find_factor_kit(std::string_view name) noexcept {
  for (const FactorKit* kit : kCatalogue) {
    if (kit->named && kit->name == name) return kit;
  }
  return nullptr;
}

const FactorKit& delegated_factor_kit() noexcept { return pam_kit; }

}  // namespace authpolicy
