// EulerAncestralDiscreteScheduler: a drop-in for diffusers.EulerAncestralDiscreteScheduler (AUTOMATIC1111's
// "Euler a"; k-diffusion's sample_euler_ancestral): an Euler step down to sigma_down, then fresh noise of
// standard deviation sigma_up, drawn in torch's order from the generator. Same config, timesteps, sigmas
// and numbers as diffusers for the same seed.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ortdiffusion/euler_config.hpp"
#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/sigma_stepper.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

class EulerAncestralDiscreteScheduler {
 public:
  explicit EulerAncestralDiscreteScheduler(EulerConfig config);

  const EulerConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

  void set_timesteps(int64_t num_inference_steps);
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  SigmaStepper& stepper() { return stepper_; }
  const SigmaStepper& stepper() const { return stepper_; }
  float init_noise_sigma() const { return stepper_.init_noise_sigma(config_.timestep_spacing); }

  // One ancestral step. The noise (same shape as the sample) is `noise` when given, else drawn from
  // `generator`; one of the two is required.
  template <typename T>
  void step(const T* model_output, double timestep, const T* sample, const Shape& shape, const T* noise,
            Generator* generator, T* prev_sample, T* pred_original_sample);

 private:
  EulerConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  std::vector<float> train_sigmas_;
  std::optional<int64_t> num_inference_steps_;
  SigmaStepper stepper_;
};

}  // namespace ortdiffusion
