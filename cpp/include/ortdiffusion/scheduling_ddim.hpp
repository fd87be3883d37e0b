// DDIMScheduler: a drop-in for diffusers.DDIMScheduler (Song et al. 2020, "Denoising Diffusion
// Implicit Models", https://arxiv.org/abs/2010.02502), same config, same timesteps, same numbers.
// Tensors are contiguous float32 or float64 buffers of any shape (batch first where it matters).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ortdiffusion/ddim_config.hpp"
#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

template <typename T>
struct DDIMStepOptions {
  double eta = 0.0;                       // 0: DDIM (deterministic), 1: DDPM-like
  bool use_clipped_model_output = false;  // re-derive epsilon from the clipped x_0 (Glide)
  const T* variance_noise = nullptr;      // noise for eta > 0, same shape as the sample ...
  Generator* generator = nullptr;         // ... or drawn from this generator (not both)
};

// The float32 scalars of one step, as diffusers computes them on 0-d float32 tensors.
struct DDIMStepCoefficients {
  int64_t prev_timestep;
  float alpha_prod_t, alpha_prod_t_prev, beta_prod_t;
  float sqrt_alpha_prod_t, sqrt_beta_prod_t, sqrt_alpha_prod_t_prev;
  float std_dev_t;            // sigma_t(eta), eq. (16)
  float direction_coefficient;  // sqrt(1 - alpha_prod_t_prev - sigma_t^2), eq. (12)
};

class DDIMScheduler {
 public:
  explicit DDIMScheduler(DDIMConfig config);

  const DDIMConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }
  float final_alpha_cumprod() const { return final_alpha_cumprod_; }
  float init_noise_sigma() const { return 1.0f; }  // standard deviation of the initial noise

  // Sets the inference timesteps (descending). Raises ArgumentError for n < 1 or n > T.
  void set_timesteps(int64_t num_inference_steps);
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }

  // Coefficients for a step from `timestep` (needs set_timesteps; raises ArgumentError otherwise or
  // when the timestep is outside [0, len(alphas_cumprod))).
  DDIMStepCoefficients step_coefficients(int64_t timestep, double eta) const;

  // One reverse step x_t -> x_{t-1}. Writes prev_sample and pred_original_sample (both of `shape`,
  // not overlapping the inputs).
  template <typename T>
  void step(const T* model_output, int64_t timestep, const T* sample, const Shape& shape,
            const DDIMStepOptions<T>& options, T* prev_sample, T* pred_original_sample) const;

  // Forward process q(x_t | x_0): sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise, one timestep
  // per batch item (or one for all).
  template <typename T>
  void add_noise(const T* original_samples, const T* noise, const Shape& shape, const int64_t* timesteps,
                 int64_t num_timesteps, T* out) const;

  // v = sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) sample (Salimans & Ho 2022, section 4).
  template <typename T>
  void get_velocity(const T* sample, const T* noise, const Shape& shape, const int64_t* timesteps,
                    int64_t num_timesteps, T* out) const;

  // Raises ArgumentError naming `what` when timestep is outside [0, len(alphas_cumprod)).
  void check_timestep(int64_t timestep, const char* what) const;

 private:
  DDIMConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  float final_alpha_cumprod_;
  std::vector<int64_t> timesteps_;
  std::optional<int64_t> num_inference_steps_;
};

}  // namespace ortdiffusion
