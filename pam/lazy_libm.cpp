// The math functions of pam_policy.so's own copy of sqlite, bound to libm on their first call.
//
// sqlite's SQL math functions (sin(), pow(), ...) and fts5's ranking reference libm, so linking it
// the usual way makes every login map, relocate and unmap libm.so.6 and bind these 19 symbols,
// although the module's SQL never calls one (docs/cost.md). These hidden definitions satisfy
// sqlite's references instead; the first call loads the system's libm by its soname, the way the
// loader would have, and later calls go straight to it. Built only into the module with the
// static sqlite (pam/CMakeLists.txt); everything else links libm as before.
#include <dlfcn.h>

#include <atomic>
#include <limits>

namespace {

std::atomic<void*> libm{nullptr};

// The libm function `name`, or nullptr when libm cannot be loaded (the SQL function then
// returns NaN, which sqlite turns into NULL).
void* libm_function(const char* name) {
  void* handle = libm.load(std::memory_order_acquire);
  if (handle == nullptr) {
    void* opened = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    if (opened == nullptr) return nullptr;
    if (libm.compare_exchange_strong(handle, opened, std::memory_order_acq_rel)) {
      handle = opened;
    } else {
      dlclose(opened);  // another thread got there first; `handle` is its handle
    }
  }
  return dlsym(handle, name);
}

template <typename Fn>
Fn bound(std::atomic<Fn>& slot, const char* name) {
  Fn fn = slot.load(std::memory_order_acquire);
  if (fn != nullptr) return fn;
  fn = reinterpret_cast<Fn>(libm_function(name));
  if (fn != nullptr) slot.store(fn, std::memory_order_release);
  return fn;
}

constexpr double kNotANumber = std::numeric_limits<double>::quiet_NaN();

// libpam unloads the module at every pam_end: give back the reference the first call took.
__attribute__((destructor)) void release_libm() {
  if (void* handle = libm.exchange(nullptr)) dlclose(handle);
}

}  // namespace

#define AP_LAZY_LIBM_1(name)                              \
  extern "C" double name(double x) {                      \
    static std::atomic<double (*)(double)> slot{nullptr}; \
    auto fn = bound(slot, #name);                         \
    return fn != nullptr ? fn(x) : kNotANumber;           \
  }
#define AP_LAZY_LIBM_2(name)                                      \
  extern "C" double name(double x, double y) {                    \
    static std::atomic<double (*)(double, double)> slot{nullptr}; \
    auto fn = bound(slot, #name);                                 \
    return fn != nullptr ? fn(x, y) : kNotANumber;                \
  }

AP_LAZY_LIBM_1(acos)
AP_LAZY_LIBM_1(acosh)
AP_LAZY_LIBM_1(asin)
AP_LAZY_LIBM_1(asinh)
AP_LAZY_LIBM_1(atan)
AP_LAZY_LIBM_1(atanh)
AP_LAZY_LIBM_1(cos)
AP_LAZY_LIBM_1(cosh)
AP_LAZY_LIBM_1(exp)
AP_LAZY_LIBM_1(log)
AP_LAZY_LIBM_1(sin)
AP_LAZY_LIBM_1(sinh)
AP_LAZY_LIBM_1(sqrt)
AP_LAZY_LIBM_1(tan)
AP_LAZY_LIBM_1(tanh)
AP_LAZY_LIBM_1(trunc)
AP_LAZY_LIBM_2(atan2)
AP_LAZY_LIBM_2(fmod)
AP_LAZY_LIBM_2(pow)
