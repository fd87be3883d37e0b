// KDPM2AncestralDiscreteScheduler: a drop-in for diffusers.KDPM2AncestralDiscreteScheduler (k-diffusion's
// sample_dpm_2_ancestral): DPM-Solver-2 towards the ancestral step's sigma_down, then fresh noise of
// standard deviation sigma_up, drawn in torch's order from an ortdiffusion::Generator (or given).
// AUTOMATIC1111's "DPM2 a".
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/kdpm2_config.hpp"
#include "ortdiffusion/sigma_stepper.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

class KDPM2AncestralDiscreteScheduler {
 public:
  explicit KDPM2AncestralDiscreteScheduler(KDPM2Config config);

  const KDPM2Config& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

  void set_timesteps(int64_t num_inference_steps);
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  SigmaStepper& stepper() { return stepper_; }
  const SigmaStepper& stepper() const { return stepper_; }
  // interleaved as the sigmas (2n + 2 entries each), as diffusers' attributes of the same names
  const std::vector<float>& sigmas_interpol() const { return sigmas_interpol_; }
  const std::vector<float>& sigmas_up() const { return sigmas_up_; }
  const std::vector<float>& sigmas_down() const { return sigmas_down_; }
  float init_noise_sigma() const { return stepper_.init_noise_sigma(config_.timestep_spacing); }
  bool state_in_first_order() const { return !has_sample_; }
  float model_input_sigma(double timestep);

  // `noise` (n values) or `generator` (not both) supplies the second half's noise; the first half draws none.
  template <typename T>
  void step(const T* model_output, double timestep, const T* sample, const Shape& shape, const T* noise,
            Generator* generator, T* prev_sample, T* pred_original_sample);

 private:
  KDPM2Config config_;
  std::vector<float> betas_, alphas_cumprod_, train_sigmas_, log_sigmas_;
  std::vector<float> sigmas_interpol_, sigmas_up_, sigmas_down_;
  std::optional<int64_t> num_inference_steps_;
  SigmaStepper stepper_;
  bool has_sample_ = false;
  std::vector<double> first_sample_;
};

}  // namespace ortdiffusion
