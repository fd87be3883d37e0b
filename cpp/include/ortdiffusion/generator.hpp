// Generator: seeded Gaussian noise equal to torch's CPU generator, so that a seed gives the same
// latents here as in diffusers. Mirrors ATen's CPUGeneratorImpl (mt19937 seeded with the low 32 bits
// of the seed) and normal_kernel (aten/src/ATen/native/cpu/DistributionTemplates.h):
//  * a float32 tensor of >= 16 elements is first filled with uniforms (u32 & (2^24-1)) * 2^-24, then
//    transformed 16 at a time by Box-Muller (first 8 = r cos, next 8 = r sin, u1 = 1 - first half);
//    a tail that is not a multiple of 16 is redrawn as the last 16 elements and transformed again;
//  * fewer than 16 elements use normal_distribution<double> per element: two 53-bit uniforms per
//    pair, r cos returned and r sin cached in the generator for the next call (across calls too).
// Copying a Generator copies its state (both continue identically).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "ortdiffusion/mt19937.hpp"
#include "ortdiffusion/torch_cpu_capability.hpp"

namespace ortdiffusion {

class Generator {
 public:
  // torch's default CPU seed (c10::detail::default_rng_seed_val).
  static constexpr uint64_t kDefaultSeed = 67280421310721ULL;

  explicit Generator(uint64_t seed = kDefaultSeed);
  Generator(const Generator& other);
  Generator& operator=(const Generator& other);

  // torch.Generator.manual_seed: reseeds and clears the cached normal sample.
  void manual_seed(uint64_t seed);
  uint64_t initial_seed() const;

  // torch.randn(numel) into `out` (contiguous), float32 or float64.
  void randn(float* out, int64_t numel);
  void randn(double* out, int64_t numel);
  std::vector<float> randn(int64_t numel);

  // Which of torch's float32 Box-Muller kernels is mirrored (fixed at construction from
  // torch_cpu_capability()): the DEFAULT build's scalar kernel (theta rounded from double, libm
  // log/cos/sin) or the AVX2/AVX512 builds' vector kernel (float theta, Cephes log/sincos).
  TorchCpuCapability capability() const { return capability_; }

 private:
  uint32_t random();    // CPUGeneratorImpl::random
  uint64_t random64();  // CPUGeneratorImpl::random64: first draw is the high word
  float uniform_float();
  double uniform_double();
  double normal_double();  // at::normal_distribution<double>, with the cached second value

  void copy_state_from(const Generator& other);  // caller holds both locks
  template <typename T>
  void randn_scalar_path(T* out, int64_t numel);
  template <typename T, typename Uniform, typename Transform>
  void fill_normal(T* out, int64_t numel, Uniform uniform, Transform transform);
  void uniform_floats(float* out, int64_t n);  // n of uniform_float() at once

  mutable std::mutex mutex_;
  Mt19937 engine_;
  uint64_t seed_ = kDefaultSeed;
  std::optional<double> next_double_normal_;
  TorchCpuCapability capability_;
};

}  // namespace ortdiffusion
