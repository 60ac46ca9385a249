// Where FIDO devices come from: the system's HID/NFC devices, or a test's software stand-in.
#pragma once

#include <fido.h>

#include <memory>
#include <string>
#include <vector>

namespace authpolicy::u2f {

// Closes (when open) and frees a libfido2 device.
struct FidoDeviceCloser {
  void operator()(fido_dev_t* device) const noexcept;
};
using FidoDevice = std::unique_ptr<fido_dev_t, FidoDeviceCloser>;

// libfido2 cannot enumerate a software device, so enumeration and opening go through this
// interface; everything after opening is libfido2's own code.
class DeviceSource {
 public:
  virtual ~DeviceSource() = default;
  // Paths of the authenticators present now; empty when none is plugged in.
  virtual std::vector<std::string> list() = 0;
  // Opens a listed device; on failure returns nullptr and says why in `*error`.
  virtual FidoDevice open(const std::string& path, std::string* error) = 0;
};

// The machine's devices through fido_dev_info_manifest and fido_dev_open.
std::shared_ptr<DeviceSource> make_system_device_source();

}  // namespace authpolicy::u2f
