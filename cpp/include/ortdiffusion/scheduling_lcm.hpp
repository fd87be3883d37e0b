// LCMScheduler: a drop-in for diffusers.LCMScheduler (Luo et al. 2023, "Latent Consistency Models"): the
// consistency-model boundary condition (c_skip, c_out of the scaled timestep) on the predicted x_0, then
// fresh noise to the next timestep of the distillation schedule (skipping steps of the original
// `original_inference_steps` schedule). For LCM-distilled UNets and LCM-LoRAs at 2-8 steps.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/prediction_type.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

struct LCMConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
  BetaSchedule beta_schedule = BetaSchedule::ScaledLinear;
  std::optional<std::vector<double>> trained_betas;
  int64_t original_inference_steps = 50;
  bool clip_sample = false;
  double clip_sample_range = 1.0;
  bool set_alpha_to_one = true;
  int64_t steps_offset = 0;
  PredictionType prediction_type = PredictionType::Epsilon;
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  TimestepSpacing timestep_spacing = TimestepSpacing::Leading;
  double timestep_scaling = 10.0;
  bool rescale_betas_zero_snr = false;

  static const std::vector<std::string>& keys();
};

LCMConfig parse_lcm_config(const std::string& json_text, const std::string& source = "config");
LCMConfig load_lcm_config(const std::string& path);
std::string to_json(const LCMConfig& config);

class LCMScheduler {
 public:
  explicit LCMScheduler(LCMConfig config);

  const LCMConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }
  float final_alpha_cumprod() const { return final_alpha_cumprod_; }
  float init_noise_sigma() const { return 1.0f; }

  // diffusers' set_timesteps(num_inference_steps, original_inference_steps, strength): n timesteps picked
  // evenly from the distillation schedule (original_steps of T // original_steps apart, the first strength of
  // them). original_inference_steps <= 0 takes the config's. ArgumentError for impossible combinations.
  void set_timesteps(int64_t num_inference_steps, int64_t original_inference_steps = 0, double strength = 1.0);
  // Caller-chosen descending timesteps (diffusers' set_timesteps(timesteps=...)), cut by strength as diffusers.
  void set_timesteps_from(const std::vector<int64_t>& timesteps, double strength = 1.0);
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  std::optional<int64_t> step_index() const { return step_index_; }
  std::optional<int64_t> begin_index() const { return begin_index_; }
  void set_begin_index(int64_t begin_index) { begin_index_ = begin_index; }

  // One step: x_0 from the model output, the boundary-condition `denoised`, and (except at the last step)
  // denoised noised to the next timestep with `noise` or the generator's draws. Writes prev_sample and denoised.
  template <typename T>
  void step(const T* model_output, int64_t timestep, const T* sample, const Shape& shape, const T* noise,
            Generator* generator, T* prev_sample, T* denoised);

 private:
  LCMConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  float final_alpha_cumprod_;
  std::vector<int64_t> timesteps_;
  std::optional<int64_t> num_inference_steps_;
  std::optional<int64_t> step_index_;
  std::optional<int64_t> begin_index_;
};

}  // namespace ortdiffusion
