// Reading and writing DDIMConfig (diffusers ConfigMixin.from_config / to_json_string semantics).
#include "ortdiffusion/ddim_config.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "config_reader.hpp"
#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {
namespace {

using nlohmann::json;

void validate(const DDIMConfig& c, const std::string& source) {
  detail::validate_noise_schedule_keys(c, source);
  if (!(c.dynamic_thresholding_ratio >= 0.0 && c.dynamic_thresholding_ratio <= 1.0)) {
    throw ConfigError(source + ": 'dynamic_thresholding_ratio' must be in [0, 1], got " +
                      std::to_string(c.dynamic_thresholding_ratio));
  }
  if (c.rescale_betas_zero_snr && c.num_train_timesteps < 2) {
    throw ConfigError(source + ": 'rescale_betas_zero_snr' needs num_train_timesteps >= 2");
  }
}

}  // namespace

const std::vector<std::string>& DDIMConfig::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start",        "beta_end",
      "beta_schedule",       "trained_betas",     "clip_sample",
      "set_alpha_to_one",    "steps_offset",      "prediction_type",
      "thresholding",        "dynamic_thresholding_ratio", "clip_sample_range",
      "sample_max_value",    "timestep_spacing",  "rescale_betas_zero_snr"};
  return k;
}

DDIMConfig parse_ddim_config(const std::string& json_text, const std::string& source) {
  const json object = detail::parse_config_object(json_text, source);
  DDIMConfig c;
  const detail::ConfigReader r(object, source);
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule);
  r.read("clip_sample", c.clip_sample);
  r.read("set_alpha_to_one", c.set_alpha_to_one);
  r.read("steps_offset", c.steps_offset);
  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  r.read("thresholding", c.thresholding);
  r.read("dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
  r.read("clip_sample_range", c.clip_sample_range);
  r.read("sample_max_value", c.sample_max_value);
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  validate(c, source);
  return c;
}

DDIMConfig load_ddim_config(const std::string& path) {
  return parse_ddim_config(detail::read_config_file(path), path);
}

std::string to_json(const DDIMConfig& c) {
  json out = json::object();  // nlohmann's default object is a std::map: keys come out sorted
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  out["clip_sample"] = c.clip_sample;
  out["set_alpha_to_one"] = c.set_alpha_to_one;
  out["steps_offset"] = c.steps_offset;
  out["prediction_type"] = to_string(c.prediction_type);
  out["thresholding"] = c.thresholding;
  out["dynamic_thresholding_ratio"] = c.dynamic_thresholding_ratio;
  out["clip_sample_range"] = c.clip_sample_range;
  out["sample_max_value"] = c.sample_max_value;
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["rescale_betas_zero_snr"] = c.rescale_betas_zero_snr;
  return out.dump(2);
}

}  // namespace ortdiffusion
