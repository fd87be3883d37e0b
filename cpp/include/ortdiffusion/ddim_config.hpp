// DDIMConfig: the scheduler_config.json schema of diffusers.DDIMScheduler. Field names and
// defaults are exactly DDIMScheduler.__init__'s keyword arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/prediction_type.hpp"

namespace ortdiffusion {

struct DDIMConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::optional<std::vector<double>> trained_betas;  // null in JSON
  bool clip_sample = true;
  bool set_alpha_to_one = true;
  int64_t steps_offset = 0;
  PredictionType prediction_type = PredictionType::Epsilon;
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double clip_sample_range = 1.0;
  double sample_max_value = 1.0;
  TimestepSpacing timestep_spacing = TimestepSpacing::Leading;
  bool rescale_betas_zero_snr = false;

  // The config keys DDIMScheduler understands, in diffusers' signature order.
  static const std::vector<std::string>& keys();
};

// Parses a JSON object as diffusers' DDIMScheduler.from_config does: missing keys take their
// defaults, unknown keys (another scheduler's, "_class_name", ...) are ignored. A known key with
// the wrong JSON type or an invalid value raises ConfigError naming `source` and the key.
DDIMConfig parse_ddim_config(const std::string& json_text, const std::string& source = "config");

// Reads a scheduler_config.json file (a C++ user needs no Python). Raises ConfigError when the file
// cannot be read or parsed.
DDIMConfig load_ddim_config(const std::string& path);

// Serialises every key (diffusers' to_json_string layout: sorted keys, 2-space indent).
std::string to_json(const DDIMConfig& config);

}  // namespace ortdiffusion
