// Which ATen CPU kernel family torch would pick on this machine. Some torch results depend on it
// (FMA contraction in torch.linspace, the Box-Muller kernel of torch.randn), so code that must
// reproduce torch's numbers asks here. Mirrors ATen's compute_cpu_capability(): the
// ATEN_CPU_CAPABILITY environment variable ("default" | "avx2" | "avx512") wins, otherwise
// AVX512 needs avx512vl+bw+dq+fma, AVX2 needs avx2+fma.
#pragma once

namespace ortdiffusion {

enum class TorchCpuCapability { Default, Avx2, Avx512 };

// Detected once per process (like ATen) and cached.
TorchCpuCapability torch_cpu_capability();

}  // namespace ortdiffusion
