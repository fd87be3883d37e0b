// Private: the element-wise passes shared by the sigma-based schedulers (scale_model_input's division, Euler's
// derivative and update), built with GCC target_clones like ddim_step_kernel.hpp (AVX-512, AVX2 or SSE2
// chosen at load time). Each does diffusers' rounded operations in diffusers' order; divisions by a step's
// scalar go through InvariantDivisor (exact bits), and no FMA is formed, so every clone gives the same bits.
#pragma once

#include <cstdint>

namespace ortdiffusion::detail {

// out = x / divisor (scale_model_input: sample / ((sigma**2 + 1) ** 0.5))
void divide_elementwise(const float* x, int64_t n, float divisor, float* out);
void divide_elementwise(const double* x, int64_t n, double divisor, double* out);

// diffusers' EulerDiscreteScheduler.step, steps 2-3 after x_0 is known:
//   derivative = (x - x_0) / sigma_hat; prev = x + derivative * dt
void euler_update(const float* x, const float* x0, int64_t n, float sigma_hat, float dt, float* prev);
void euler_update(const double* x, const double* x0, int64_t n, double sigma_hat, double dt, double* prev);

// The same with x_0 = x - sigma_eps * eps (epsilon prediction) computed in the same pass and written out.
void euler_epsilon_step(const float* x, const float* eps, int64_t n, float sigma_eps, float sigma_hat, float dt,
                        float* x0, float* prev);
void euler_epsilon_step(const double* x, const double* eps, int64_t n, double sigma_eps, double sigma_hat, double dt,
                        double* x0, double* prev);

}  // namespace ortdiffusion::detail
