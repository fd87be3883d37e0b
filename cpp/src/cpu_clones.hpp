// Private: ORTDIFFUSION_CLONES builds a function for AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and baseline SSE2
// and picks one at load time (GCC target_clones), so a portable wheel's element-wise kernels still run with
// the machine's vectors. ORTDIFFUSION_INLINE forces the loops into each clone.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ORTDIFFUSION_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ORTDIFFUSION_CLONES
#endif

#define ORTDIFFUSION_INLINE inline __attribute__((always_inline))
