// Whether this CPU's int8 dot products can saturate in ONNX Runtime's uint8 x int8 (u8s8) kernels.
// On x86 without VNNI, MLAS multiplies uint8 by int8 with VPMADDUBSW, which adds each pair of products
// in 16 bits with signed saturation (2 * 255 * 127 = 64770 > 32767), so large activations meeting large
// weights are clipped; with AVX512-VNNI or AVX-VNNI, VPDPBUSD adds four products in 32 bits exactly.
// Mirrors the kernel choice in onnxruntime/core/mlas/lib/platform.cpp. Other architectures widen before
// adding (ARM64 SDOT/UDOT, or 16-bit products summed in 32 bits), so they do not saturate here.
#pragma once

namespace ortdiffusion {

enum class Int8DotProducts {
  NotX86,           // another architecture: no saturating u8s8 path
  X86Vnni,          // AVX512-VNNI or AVX-VNNI: exact
  X86Saturating,    // x86 without VNNI: u8s8 pairs saturate in 16 bits
};

// Detected once per process (CPUID, and XGETBV for the AVX-512 register state) and cached.
Int8DotProducts cpu_int8_dot_products();

}  // namespace ortdiffusion
