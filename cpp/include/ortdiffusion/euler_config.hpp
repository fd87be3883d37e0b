// The scheduler_config.json schemas of diffusers.EulerDiscreteScheduler and
// EulerAncestralDiscreteScheduler (the ancestral one takes a subset of the keys). Field names and
// defaults are their __init__ keyword arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/prediction_type.hpp"

namespace ortdiffusion {

enum class InterpolationType { Linear, LogLinear };
enum class TimestepType { Discrete, Continuous };
enum class FinalSigmasType { Zero, SigmaMin };

InterpolationType parse_interpolation_type(const std::string& name);
std::string to_string(InterpolationType type);
TimestepType parse_timestep_type(const std::string& name);
std::string to_string(TimestepType type);
FinalSigmasType parse_final_sigmas_type(const std::string& name);
std::string to_string(FinalSigmasType type);

struct EulerConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::optional<std::vector<double>> trained_betas;
  PredictionType prediction_type = PredictionType::Epsilon;
  InterpolationType interpolation_type = InterpolationType::Linear;       // Euler only
  std::optional<bool> use_karras_sigmas = false;                          // Euler only (null = false)
  std::optional<bool> use_exponential_sigmas = false;                     // Euler only
  std::optional<bool> use_beta_sigmas = false;                            // Euler only
  std::optional<double> sigma_min;                                        // Euler only
  std::optional<double> sigma_max;                                        // Euler only
  TimestepSpacing timestep_spacing = TimestepSpacing::Linspace;
  TimestepType timestep_type = TimestepType::Discrete;                    // Euler only
  int64_t steps_offset = 0;
  bool rescale_betas_zero_snr = false;
  FinalSigmasType final_sigmas_type = FinalSigmasType::Zero;              // Euler only

  // The config keys of EulerDiscreteScheduler (ancestral = false) or EulerAncestralDiscreteScheduler,
  // in diffusers' signature order.
  static const std::vector<std::string>& keys(bool ancestral);
};

// Parses a JSON object as diffusers' from_config does (missing keys take their defaults, unknown keys are
// ignored); the ancestral schema reads its own keys only. Wrong types or values raise ConfigError naming
// `source` and the key. prediction_type "sample" is
// refused for the ancestral scheduler (diffusers raises NotImplementedError at its first step).
EulerConfig parse_euler_config(const std::string& json_text, const std::string& source, bool ancestral);
EulerConfig load_euler_config(const std::string& path, bool ancestral);

// Serialises the keys of the schema (sorted keys, 2-space indent).
std::string to_json(const EulerConfig& config, bool ancestral);

}  // namespace ortdiffusion
