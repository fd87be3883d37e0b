// LMSDiscreteScheduler: a drop-in for diffusers.LMSDiscreteScheduler (k-diffusion's sample_lms: a linear
// multistep method of up to 4th order on the probability-flow ODE in sigma, Karras et al. 2022). The
// coefficients are integrals of Lagrange basis polynomials between consecutive sigmas, computed as
// scipy.integrate.quad computes them for diffusers (21-point Gauss-Kronrod, the integrand in float32 as
// diffusers' tensors), so no scipy is needed. AUTOMATIC1111's "LMS".
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/prediction_type.hpp"
#include "ortdiffusion/sigma_stepper.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

struct LMSConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::optional<std::vector<double>> trained_betas;
  std::optional<bool> use_karras_sigmas = false;
  std::optional<bool> use_exponential_sigmas = false;
  std::optional<bool> use_beta_sigmas = false;
  PredictionType prediction_type = PredictionType::Epsilon;
  TimestepSpacing timestep_spacing = TimestepSpacing::Linspace;
  int64_t steps_offset = 0;

  static const std::vector<std::string>& keys();
};

// ConfigError naming `source` and the key for wrong types and more than one sigma kind.
LMSConfig parse_lms_config(const std::string& json_text, const std::string& source = "config");
LMSConfig load_lms_config(const std::string& path);
std::string to_json(const LMSConfig& config);

class LMSDiscreteScheduler {
 public:
  explicit LMSDiscreteScheduler(LMSConfig config);

  const LMSConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

  void set_timesteps(int64_t num_inference_steps);
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  SigmaStepper& stepper() { return stepper_; }
  const SigmaStepper& stepper() const { return stepper_; }
  float init_noise_sigma() const { return stepper_.init_noise_sigma(config_.timestep_spacing); }
  // How many derivatives the loop keeps (at most the last step's `order`).
  int64_t num_derivatives() const { return static_cast<int64_t>(derivatives_.size()); }

  // The coefficient of the derivative `current_order` steps back in an `order`-step update at step t:
  // the integral from sigmas[t] to sigmas[t + 1] of prod_{k != current_order} (tau - sigmas[t - k]) /
  // (sigmas[t - current_order] - sigmas[t - k]) (diffusers' get_lms_coefficient).
  double lms_coefficient(int64_t order, int64_t t, int64_t current_order) const;

  // `order` is diffusers' step argument (default 4): the update uses min(step index + 1, order) derivatives.
  template <typename T>
  void step(const T* model_output, double timestep, const T* sample, const Shape& shape, int64_t order,
            T* prev_sample, T* pred_original_sample);

 private:
  LMSConfig config_;
  std::vector<float> betas_, alphas_cumprod_, train_sigmas_, log_sigmas_;
  std::optional<int64_t> num_inference_steps_;
  SigmaStepper stepper_;
  std::deque<std::vector<double>> derivatives_;  // oldest first; values of the sample's dtype, held in double
};

}  // namespace ortdiffusion
