// See sigma_step_kernels.hpp. Formulas: Karras et al. 2022, c_in = 1 / sqrt(sigma^2 + 1) and Algorithm 2's
// Euler step, as diffusers' EulerDiscreteScheduler.scale_model_input / step compute them.
#include "sigma_step_kernels.hpp"

#include "cpu_clones.hpp"
#include "invariant_divisor.hpp"

namespace ortdiffusion::detail {
namespace {

template <typename T>
ORTDIFFUSION_INLINE void divide_loop(const T* __restrict x, int64_t n, T divisor, T* __restrict out) {
  const InvariantDivisor<T> by(divisor);
  for (int64_t i = 0; i < n; ++i) out[i] = by.divide(x[i]);
}

template <typename T>
ORTDIFFUSION_INLINE void euler_update_loop(const T* __restrict x, const T* __restrict x0, int64_t n, T sigma_hat,
                                           T dt, T* __restrict prev) {
  const InvariantDivisor<T> by(sigma_hat);
  for (int64_t i = 0; i < n; ++i) prev[i] = x[i] + by.divide(x[i] - x0[i]) * dt;
}

template <typename T>
ORTDIFFUSION_INLINE void euler_epsilon_loop(const T* __restrict x, const T* __restrict eps, int64_t n, T sigma_eps,
                                            T sigma_hat, T dt, T* __restrict x0_out, T* __restrict prev) {
  const InvariantDivisor<T> by(sigma_hat);
  for (int64_t i = 0; i < n; ++i) {
    const T x0 = x[i] - sigma_eps * eps[i];  // 1. pred_original_sample = sample - sigma_hat * model_output
    x0_out[i] = x0;
    prev[i] = x[i] + by.divide(x[i] - x0) * dt;  // 2./3. derivative, Euler update
  }
}

}  // namespace

ORTDIFFUSION_CLONES void divide_elementwise(const float* x, int64_t n, float divisor, float* out) {
  divide_loop(x, n, divisor, out);
}
ORTDIFFUSION_CLONES void divide_elementwise(const double* x, int64_t n, double divisor, double* out) {
  divide_loop(x, n, divisor, out);
}
ORTDIFFUSION_CLONES void euler_update(const float* x, const float* x0, int64_t n, float sigma_hat, float dt,
                                      float* prev) {
  euler_update_loop(x, x0, n, sigma_hat, dt, prev);
}
ORTDIFFUSION_CLONES void euler_update(const double* x, const double* x0, int64_t n, double sigma_hat, double dt,
                                      double* prev) {
  euler_update_loop(x, x0, n, sigma_hat, dt, prev);
}
ORTDIFFUSION_CLONES void euler_epsilon_step(const float* x, const float* eps, int64_t n, float sigma_eps,
                                            float sigma_hat, float dt, float* x0, float* prev) {
  euler_epsilon_loop(x, eps, n, sigma_eps, sigma_hat, dt, x0, prev);
}
ORTDIFFUSION_CLONES void euler_epsilon_step(const double* x, const double* eps, int64_t n, double sigma_eps,
                                            double sigma_hat, double dt, double* x0, double* prev) {
  euler_epsilon_loop(x, eps, n, sigma_eps, sigma_hat, dt, x0, prev);
}

}  // namespace ortdiffusion::detail
