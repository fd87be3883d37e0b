// DDPMScheduler: a drop-in for diffusers.DDPMScheduler (Ho et al. 2020, "Denoising Diffusion Probabilistic
// Models", Algorithm 2 over any subset of the training timesteps): the posterior mean of eq. (7) plus fresh
// noise of the chosen variance (fixed_small, fixed_small_log, fixed_large, fixed_large_log), drawn from the
// generator in torch's order. Same config, timesteps and numbers as diffusers.
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

enum class DDPMVariance { FixedSmall, FixedSmallLog, FixedLarge, FixedLargeLog };

struct DDPMConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::optional<std::vector<double>> trained_betas;
  DDPMVariance variance_type = DDPMVariance::FixedSmall;
  bool clip_sample = true;
  PredictionType prediction_type = PredictionType::Epsilon;
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double clip_sample_range = 1.0;
  double sample_max_value = 1.0;
  TimestepSpacing timestep_spacing = TimestepSpacing::Leading;
  int64_t steps_offset = 0;
  bool rescale_betas_zero_snr = false;

  static const std::vector<std::string>& keys();
};

// ConfigError for wrong types, and for what ortdiffusion does not implement yet: learned variances (a UNet
// predicting its variance; SD's do not) and the "sigmoid" / "laplace" beta schedules.
DDPMConfig parse_ddpm_config(const std::string& json_text, const std::string& source = "config");
DDPMConfig load_ddpm_config(const std::string& path);
std::string to_json(const DDPMConfig& config);

class DDPMScheduler {
 public:
  explicit DDPMScheduler(DDPMConfig config);

  const DDPMConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }
  float init_noise_sigma() const { return 1.0f; }

  void set_timesteps(int64_t num_inference_steps);
  void set_timesteps_from(const std::vector<int64_t>& timesteps);
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  // diffusers' previous_timestep: the next one of the schedule (-1 after the last).
  int64_t previous_timestep(int64_t timestep) const;

  // One step; the noise (for timestep > 0) is `noise` or the generator's draws.
  template <typename T>
  void step(const T* model_output, int64_t timestep, const T* sample, const Shape& shape, const T* noise,
            Generator* generator, T* prev_sample, T* pred_original_sample) const;

 private:
  DDPMConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  std::vector<int64_t> timesteps_;
  std::optional<int64_t> num_inference_steps_;
  bool custom_timesteps_ = false;
};

}  // namespace ortdiffusion
