// EulerDiscreteScheduler: a drop-in for diffusers.EulerDiscreteScheduler (Karras et al. 2022, "Elucidating
// the Design Space of Diffusion-Based Generative Models", Algorithm 2, with the optional churn): same
// config (Karras and exponential sigmas, log-linear interpolation, continuous timesteps, final sigma),
// same timesteps and sigmas, same step arithmetic.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "ortdiffusion/euler_config.hpp"
#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/sigma_stepper.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

template <typename T>
struct EulerStepOptions {
  double s_churn = 0.0;  // churn (Karras et al. 2022, Algorithm 2): 0 gives the deterministic Euler step
  double s_tmin = 0.0;
  double s_tmax = std::numeric_limits<double>::infinity();
  double s_noise = 1.0;
  const T* noise = nullptr;         // the churn's noise (same shape as the sample) ...
  Generator* generator = nullptr;   // ... or drawn from this generator
};

class EulerDiscreteScheduler {
 public:
  explicit EulerDiscreteScheduler(EulerConfig config);

  const EulerConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

  // Timesteps and sigmas for n steps (diffusers' set_timesteps(num_inference_steps)).
  void set_timesteps(int64_t num_inference_steps);
  // Caller-chosen timesteps (descending training timesteps, float): diffusers'
  // set_timesteps(timesteps=...). ArgumentError with Karras or exponential sigmas (as diffusers).
  void set_timesteps_from(const std::vector<float>& timesteps);
  // set_timesteps(sigmas=...): the given noise levels (the last is the level after the last step; at least
  // 2), their timesteps found as diffusers' _sigma_to_t finds them on float32 values.
  void set_sigmas(const std::vector<float>& sigmas);
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }

  SigmaStepper& stepper() { return stepper_; }
  const SigmaStepper& stepper() const { return stepper_; }
  float init_noise_sigma() const { return stepper_.init_noise_sigma(config_.timestep_spacing); }

  // One Euler step from the sigma of `timestep` to the next; writes x_{t-1} and the predicted x_0.
  template <typename T>
  void step(const T* model_output, double timestep, const T* sample, const Shape& shape,
            const EulerStepOptions<T>& options, T* prev_sample, T* pred_original_sample);

 private:
  void schedule_from_timesteps(std::vector<float> timesteps, int64_t num_inference_steps);

  EulerConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  std::vector<float> train_sigmas_;  // by training timestep, ascending
  std::vector<float> log_sigmas_;
  std::optional<int64_t> num_inference_steps_;
  SigmaStepper stepper_;
};

}  // namespace ortdiffusion
