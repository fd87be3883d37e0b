// HeunDiscreteScheduler: a drop-in for diffusers.HeunDiscreteScheduler (Karras et al. 2022, Algorithm 1:
// Heun's second-order method). Every step but the last takes two model evaluations: the timesteps and sigmas
// are interleaved (t0, t1, t1, t2, t2, ...) and each call is either the Euler predictor or the trapezoidal
// corrector. Same config, timesteps, sigmas and step arithmetic as diffusers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/prediction_type.hpp"
#include "ortdiffusion/sigma_stepper.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

struct HeunConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::optional<std::vector<double>> trained_betas;
  PredictionType prediction_type = PredictionType::Epsilon;
  std::optional<bool> use_karras_sigmas = false;
  std::optional<bool> use_exponential_sigmas = false;
  std::optional<bool> use_beta_sigmas = false;
  bool clip_sample = false;
  double clip_sample_range = 1.0;
  TimestepSpacing timestep_spacing = TimestepSpacing::Linspace;
  int64_t steps_offset = 0;

  static const std::vector<std::string>& keys();
};

// ConfigError for wrong types and more than one sigma kind; beta_schedule may also be "exp".
HeunConfig parse_heun_config(const std::string& json_text, const std::string& source = "config");
HeunConfig load_heun_config(const std::string& path);
std::string to_json(const HeunConfig& config);

class HeunDiscreteScheduler {
 public:
  explicit HeunDiscreteScheduler(HeunConfig config);

  const HeunConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

  void set_timesteps(int64_t num_inference_steps);
  void set_timesteps_from(const std::vector<float>& timesteps);
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  SigmaStepper& stepper() { return stepper_; }
  const SigmaStepper& stepper() const { return stepper_; }
  float init_noise_sigma() const { return stepper_.init_noise_sigma(config_.timestep_spacing); }
  // True before the predictor of a step (the next call evaluates at a new sigma).
  bool state_in_first_order() const { return !has_dt_; }

  template <typename T>
  void step(const T* model_output, double timestep, const T* sample, const Shape& shape, T* prev_sample,
            T* pred_original_sample);

 private:
  void schedule(std::vector<float> timesteps, int64_t n);

  HeunConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  std::vector<float> train_sigmas_;
  std::vector<float> log_sigmas_;
  std::optional<int64_t> num_inference_steps_;
  SigmaStepper stepper_;
  // the predictor's state until the corrector (diffusers' prev_derivative, dt, sample), in double (exact for
  // float32 and float64 values)
  bool has_dt_ = false;
  float dt_ = 0.0f;
  std::vector<double> prev_derivative_, first_sample_;
};

}  // namespace ortdiffusion
