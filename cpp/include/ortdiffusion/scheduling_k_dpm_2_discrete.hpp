// KDPM2DiscreteScheduler: a drop-in for diffusers.KDPM2DiscreteScheduler (Karras et al. 2022, Algorithm 2
// with the DPM-Solver-2 midpoint: k-diffusion's sample_dpm_2). Each step but the last takes two model
// evaluations, the second at the geometric midpoint of two sigmas (sigmas_interpol); the timesteps
// interleave the midpoints' fractional timesteps with the step timesteps. AUTOMATIC1111's "DPM2".
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ortdiffusion/kdpm2_config.hpp"
#include "ortdiffusion/sigma_stepper.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

class KDPM2DiscreteScheduler {
 public:
  explicit KDPM2DiscreteScheduler(KDPM2Config config);

  const KDPM2Config& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

  void set_timesteps(int64_t num_inference_steps);
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  SigmaStepper& stepper() { return stepper_; }
  const SigmaStepper& stepper() const { return stepper_; }
  // the midpoints, interleaved as the sigmas (2n + 2 entries; the first is NaN, as diffusers')
  const std::vector<float>& sigmas_interpol() const { return sigmas_interpol_; }
  float init_noise_sigma() const { return stepper_.init_noise_sigma(config_.timestep_spacing); }
  // True before the first-order half of a step.
  bool state_in_first_order() const { return !has_sample_; }
  // The sigma scale_model_input divides by: the step's sigma, or its midpoint in the second half.
  float model_input_sigma(double timestep);

  template <typename T>
  void step(const T* model_output, double timestep, const T* sample, const Shape& shape, T* prev_sample,
            T* pred_original_sample);

 private:
  KDPM2Config config_;
  std::vector<float> betas_, alphas_cumprod_, train_sigmas_, log_sigmas_;
  std::vector<float> sigmas_interpol_;
  std::optional<int64_t> num_inference_steps_;
  SigmaStepper stepper_;
  bool has_sample_ = false;
  std::vector<double> first_sample_;  // diffusers' self.sample, kept in double (exact for float32/float64)
};

}  // namespace ortdiffusion
