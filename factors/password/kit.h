// The `password` factor kind's description (kit.cpp beside this file; listed in factors/catalogue.cpp).
#pragma once

#include "engine/factor_kit.h"

namespace authpolicy {

extern constinit const FactorKit password_kit;

}  // namespace authpolicy
