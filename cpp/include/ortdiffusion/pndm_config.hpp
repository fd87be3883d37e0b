// PNDMConfig: the scheduler_config.json schema of diffusers.PNDMScheduler (the scheduler stock
// Stable Diffusion 1.x folders name). Field names and defaults are PNDMScheduler.__init__'s.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/prediction_type.hpp"

namespace ortdiffusion {

struct PNDMConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::optional<std::vector<double>> trained_betas;  // null in JSON
  bool skip_prk_steps = false;                       // true: PLMS only (Stable Diffusion's setting)
  bool set_alpha_to_one = false;
  PredictionType prediction_type = PredictionType::Epsilon;  // epsilon or v_prediction
  TimestepSpacing timestep_spacing = TimestepSpacing::Leading;
  int64_t steps_offset = 0;

  // The config keys PNDMScheduler understands, in diffusers' signature order.
  static const std::vector<std::string>& keys();
};

// Parses a JSON object as diffusers' PNDMScheduler.from_config does (missing keys take their defaults,
// unknown keys are ignored). A known key of the wrong type or value raises ConfigError naming `source`
// and the key; prediction_type "sample", which diffusers' PNDM refuses at its first step, is refused here.
PNDMConfig parse_pndm_config(const std::string& json_text, const std::string& source = "config");

// Reads a scheduler_config.json file. Raises ConfigError when it cannot be read or parsed.
PNDMConfig load_pndm_config(const std::string& path);

// Serialises every key (sorted keys, 2-space indent).
std::string to_json(const PNDMConfig& config);

}  // namespace ortdiffusion
