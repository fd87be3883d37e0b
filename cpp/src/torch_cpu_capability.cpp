#include "ortdiffusion/torch_cpu_capability.hpp"

#include <cstdlib>
#include <cstring>

namespace ortdiffusion {
namespace {

TorchCpuCapability detect() {
  if (const char* env = std::getenv("ATEN_CPU_CAPABILITY")) {
    if (std::strcmp(env, "avx512") == 0) return TorchCpuCapability::Avx512;
    if (std::strcmp(env, "avx2") == 0) return TorchCpuCapability::Avx2;
    if (std::strcmp(env, "default") == 0) return TorchCpuCapability::Default;
    // ATen ignores (with a warning) any other value and falls through to detection.
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool fma = __builtin_cpu_supports("fma");
  if (__builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && fma) {
    return TorchCpuCapability::Avx512;
  }
  if (__builtin_cpu_supports("avx2") && fma) return TorchCpuCapability::Avx2;
#endif
  return TorchCpuCapability::Default;
}

}  // namespace

TorchCpuCapability torch_cpu_capability() {
  static const TorchCpuCapability capability = detect();
  return capability;
}

}  // namespace ortdiffusion
