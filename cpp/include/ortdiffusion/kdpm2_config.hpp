// The scheduler_config.json schema of diffusers.KDPM2DiscreteScheduler and
// KDPM2AncestralDiscreteScheduler (the same keys and defaults: their __init__ keyword arguments).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/prediction_type.hpp"

namespace ortdiffusion {

struct KDPM2Config {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
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

// Parses a JSON object as diffusers' from_config does (missing keys keep their defaults, unknown keys are
// ignored). ConfigError naming `source` and the key for wrong types, more than one sigma kind, and
// prediction_type "sample" (diffusers raises NotImplementedError for it at the first step). `class_name`
// names the scheduler in messages.
KDPM2Config parse_kdpm2_config(const std::string& json_text, const std::string& source, const std::string& class_name);
KDPM2Config load_kdpm2_config(const std::string& path, const std::string& class_name);
std::string to_json(const KDPM2Config& config);

}  // namespace ortdiffusion
