// Reading and writing PNDMConfig (diffusers ConfigMixin.from_config / to_json_string semantics).
#include "ortdiffusion/pndm_config.hpp"

#include <nlohmann/json.hpp>

#include "config_reader.hpp"
#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {

const std::vector<std::string>& PNDMConfig::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start",      "beta_end",         "beta_schedule",    "trained_betas",
      "skip_prk_steps",      "set_alpha_to_one", "prediction_type", "timestep_spacing", "steps_offset"};
  return k;
}

PNDMConfig parse_pndm_config(const std::string& json_text, const std::string& source) {
  const nlohmann::json object = detail::parse_config_object(json_text, source);
  PNDMConfig c;
  const detail::ConfigReader r(object, source);
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule);
  r.read("skip_prk_steps", c.skip_prk_steps);
  r.read("set_alpha_to_one", c.set_alpha_to_one);
  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("steps_offset", c.steps_offset);
  detail::validate_noise_schedule_keys(c, source);
  if (c.prediction_type == PredictionType::Sample) {
    throw ConfigError(source + ": 'prediction_type' \"sample\" is not supported by PNDMScheduler; expected "
                      "'epsilon' or 'v_prediction'");
  }
  return c;
}

PNDMConfig load_pndm_config(const std::string& path) { return parse_pndm_config(detail::read_config_file(path), path); }

std::string to_json(const PNDMConfig& c) {
  nlohmann::json out = nlohmann::json::object();  // a std::map: keys come out sorted
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  out["skip_prk_steps"] = c.skip_prk_steps;
  out["set_alpha_to_one"] = c.set_alpha_to_one;
  out["prediction_type"] = to_string(c.prediction_type);
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["steps_offset"] = c.steps_offset;
  return out.dump(2);
}

}  // namespace ortdiffusion
