// The real device source: libfido2's manifest of HID (and on Linux, NFC) authenticators.
#include "factors/u2f/device_source.h"

#include <mutex>

namespace authpolicy::u2f {
namespace {

constexpr std::size_t kMaxDevices = 64;

class SystemDeviceSource final : public DeviceSource {
 public:
  std::vector<std::string> list() override {
    std::vector<std::string> paths;
    fido_dev_info_t* infos = fido_dev_info_new(kMaxDevices);
    if (infos == nullptr) return paths;
    std::size_t found = 0;
    if (fido_dev_info_manifest(infos, kMaxDevices, &found) == FIDO_OK) {
      for (std::size_t i = 0; i < found; ++i) {
        const char* path = fido_dev_info_path(fido_dev_info_ptr(infos, i));
        if (path != nullptr) paths.emplace_back(path);
      }
    }
    fido_dev_info_free(&infos, kMaxDevices);
    return paths;
  }

  FidoDevice open(const std::string& path, std::string* error) override {
    FidoDevice device(fido_dev_new());
    if (!device) {
      *error = "out of memory";
      return nullptr;
    }
    const int r = fido_dev_open(device.get(), path.c_str());
    if (r != FIDO_OK) {
      *error = std::string("cannot open ") + path + ": " + fido_strerr(r);
      return nullptr;
    }
    return device;
  }
};

}  // namespace

void FidoDeviceCloser::operator()(fido_dev_t* device) const noexcept {
  if (device == nullptr) return;
  fido_dev_close(device);  // harmless when it was never opened
  fido_dev_free(&device);
}

std::shared_ptr<DeviceSource> make_system_device_source() {
  static std::once_flag initialised;
  std::call_once(initialised, [] { fido_init(0); });
  return std::make_shared<SystemDeviceSource>();
}

}  // namespace authpolicy::u2f
