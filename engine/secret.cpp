// Wiping secret buffers so optimisers cannot drop the stores.
#include "engine/secret.h"

#include <cstring>

namespace authpolicy {

void secure_wipe(void* data, std::size_t size) noexcept {
  if (data == nullptr || size == 0) return;
  explicit_bzero(data, size);
}

}  // namespace authpolicy
