// torch-compatible Gaussian noise; see generator.hpp for the algorithm and its ATen sources.
#include "ortdiffusion/generator.hpp"

#include <cmath>
#include <type_traits>

#include "box_muller_avx2.hpp"
#include "cephes_float_math.hpp"
#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {
namespace {

constexpr double kPi = 3.14159265358979323846;  // c10::pi<double>

// normal_fill_16<float> (ATen DEFAULT/AVX512 kernels): theta rounded from double, glibc logf/cosf/sinf.
void box_muller_16_scalar(float* data) {
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1 - data[j];  // [0, 1) -> (0, 1] for log.
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2 * std::log(u1));
    const float theta = 2.0f * kPi * u2;
    data[j] = radius * std::cos(theta) * 1.0f + 0.0f;  // * std + mean
    data[j + 8] = radius * std::sin(theta) * 1.0f + 0.0f;
  }
}

// normal_fill_16_AVX2 (ATen's AVX2 and AVX512 builds): theta = float(2 pi) * u2 in float32 and the
// Cephes log / sincos of avx_mathfun, here in scalar form with the same rounding at every step. Built for
// x86-64-v3 too (chosen at load time), where std::fma is one instruction instead of a library call: about
// 10x faster, the same bits (fma is correctly rounded either way).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
[[maybe_unused]] void box_muller_16_vectorized(float* data) {
  const auto two_pi = static_cast<float>(2.0f * kPi);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * detail::cephes_logf(u1));
    const float theta = two_pi * u2;
    float sin_theta, cos_theta;
    detail::cephes_sincosf(theta, &sin_theta, &cos_theta);
    data[j] = radius * cos_theta * 1.0f + 0.0f;  // fmadd(n, std, mean)
    data[j + 8] = radius * sin_theta * 1.0f + 0.0f;
  }
}

// normal_fill_16<double>
void box_muller_16_double(double* data) {
  for (int j = 0; j < 8; ++j) {
    const double u1 = 1 - data[j];
    const double u2 = data[j + 8];
    const double radius = std::sqrt(-2 * std::log(u1));
    const double theta = 2.0f * kPi * u2;
    data[j] = radius * std::cos(theta) * 1.0 + 0.0;
    data[j + 8] = radius * std::sin(theta) * 1.0 + 0.0;
  }
}

}  // namespace

Generator::Generator(uint64_t seed) : capability_(torch_cpu_capability()) { manual_seed(seed); }

void Generator::copy_state_from(const Generator& other) {
  engine_ = other.engine_;
  seed_ = other.seed_;
  next_double_normal_ = other.next_double_normal_;
  capability_ = other.capability_;
}

Generator::Generator(const Generator& other) {
  std::lock_guard<std::mutex> lock(other.mutex_);
  copy_state_from(other);
}

Generator& Generator::operator=(const Generator& other) {
  if (this != &other) {
    std::scoped_lock lock(mutex_, other.mutex_);
    copy_state_from(other);
  }
  return *this;
}

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = seed;
  // at::mt19937(seed) -> init_with_uint32(seed): the standard mt19937 initialisation of the low word.
  engine_.seed_with(static_cast<uint32_t>(seed & 0xffffffffULL));
  next_double_normal_.reset();
}

uint64_t Generator::initial_seed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seed_;
}

uint32_t Generator::random() { return engine_.next(); }

uint64_t Generator::random64() {
  const uint32_t hi = random();
  const uint32_t lo = random();
  return (static_cast<uint64_t>(hi) << 32) | lo;  // detail::make64BitsFrom32Bits(hi, lo)
}

// transformation::uniform_real<float>: (x & (2^24 - 1)) * 2^-24
float Generator::uniform_float() {
  return static_cast<float>(random() & ((1u << 24) - 1)) * (1.0f / static_cast<float>(1u << 24));
}

void Generator::uniform_floats(float* out, int64_t n) {
  // the words land in `out` itself, then each becomes (x & (2^24 - 1)) * 2^-24 in place
  static_assert(sizeof(float) == sizeof(uint32_t));
  auto* words = reinterpret_cast<uint32_t*>(out);
  engine_.fill(words, n);
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(words[i] & ((1u << 24) - 1)) * (1.0f / static_cast<float>(1u << 24));
  }
}

// transformation::uniform_real<double>: (x & (2^53 - 1)) * 2^-53
double Generator::uniform_double() {
  return static_cast<double>(random64() & ((1ULL << 53) - 1)) * (1.0 / static_cast<double>(1ULL << 53));
}

double Generator::normal_double() {
  if (next_double_normal_) {
    const double cached = *next_double_normal_;
    next_double_normal_.reset();
    return cached * 1.0 + 0.0;  // transformation::normal(ret, mean, std)
  }
  const double u1 = uniform_double();
  const double u2 = uniform_double();
  const double r = std::sqrt(-2.0 * std::log1p(-u2));
  const double theta = 2.0 * kPi * u1;
  next_double_normal_ = r * std::sin(theta);
  return r * std::cos(theta) * 1.0 + 0.0;
}

template <typename T>
void Generator::randn_scalar_path(T* out, int64_t numel) {
  for (int64_t i = 0; i < numel; ++i) out[i] = static_cast<T>(normal_double());
}

// ATen normal_fill: uniforms for every element, Box-Muller 16 at a time, and a tail that is not a
// multiple of 16 redrawn as the last 16 elements and transformed again.
template <typename T, typename Uniform, typename Transform>
void Generator::fill_normal(T* out, int64_t numel, Uniform uniform, Transform transform) {
  if (numel < 0) throw ArgumentError("randn: negative number of elements " + std::to_string(numel));
  std::lock_guard<std::mutex> lock(mutex_);
  if (numel < 16) {
    randn_scalar_path(out, numel);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    uniform_floats(out, numel);
  } else {
    for (int64_t i = 0; i < numel; ++i) out[i] = (this->*uniform)();
  }
  for (int64_t i = 0; i + 16 <= numel; i += 16) transform(out + i);
  if (numel % 16 != 0) {
    T* tail = out + numel - 16;
    for (int i = 0; i < 16; ++i) tail[i] = (this->*uniform)();
    transform(tail);
  }
}

void Generator::randn(float* out, int64_t numel) {
  // the AVX2/AVX512 builds' kernel in AVX2 intrinsics where torch runs it (the CPU then has AVX2 and FMA)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  void (*vectorized)(float*) = &detail::box_muller_16_avx2;
#else
  void (*vectorized)(float*) = &box_muller_16_vectorized;
#endif
  fill_normal(out, numel, &Generator::uniform_float,
              capability_ == TorchCpuCapability::Default ? &box_muller_16_scalar : vectorized);
}

void Generator::randn(double* out, int64_t numel) {
  fill_normal(out, numel, &Generator::uniform_double, &box_muller_16_double);
}

std::vector<float> Generator::randn(int64_t numel) {
  std::vector<float> out(static_cast<size_t>(numel < 0 ? 0 : numel));
  randn(out.data(), numel);
  return out;
}

}  // namespace ortdiffusion
