// The forward (noising) process every alpha_bar-based scheduler shares: diffusers' `add_noise` and
// `get_velocity` (DDPMScheduler's, copied into DDIM, PNDM, DPM-Solver, UniPC, LCM, ...).
#pragma once

#include <cstdint>
#include <vector>

#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

// Raises ArgumentError naming `what` when timestep is outside [0, alphas_cumprod.size()).
void check_timestep(const std::vector<float>& alphas_cumprod, int64_t timestep, const char* what);

// q(x_t | x_0): sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise (Ho et al. 2020, eq. 4), one
// timestep per batch item (shape[0]) or one for all.
template <typename T>
void add_noise(const std::vector<float>& alphas_cumprod, const T* original_samples, const T* noise, const Shape& shape,
               const int64_t* timesteps, int64_t num_timesteps, T* out);

// v = sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) sample (Salimans & Ho 2022, section 4).
template <typename T>
void get_velocity(const std::vector<float>& alphas_cumprod, const T* sample, const T* noise, const Shape& shape,
                  const int64_t* timesteps, int64_t num_timesteps, T* out);

}  // namespace ortdiffusion
