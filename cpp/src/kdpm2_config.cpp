// kdpm2_config.hpp: reading and writing the KDPM2 schedulers' config.
#include "ortdiffusion/kdpm2_config.hpp"

#include <nlohmann/json.hpp>

#include "config_reader.hpp"
#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {

const std::vector<std::string>& KDPM2Config::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "use_karras_sigmas",
      "use_exponential_sigmas", "use_beta_sigmas", "prediction_type", "timestep_spacing", "steps_offset"};
  return k;
}

KDPM2Config parse_kdpm2_config(const std::string& json_text, const std::string& source, const std::string& class_name) {
  const nlohmann::json object = detail::parse_config_object(json_text, source);
  KDPM2Config c;
  const detail::ConfigReader r(object, source);
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule);
  detail::read_sigma_kinds(r, c);
  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("steps_offset", c.steps_offset);
  detail::validate_noise_schedule_keys(c, source);
  detail::validate_sigma_kinds(c, source);
  if (c.prediction_type == PredictionType::Sample) {
    throw ConfigError(source + ": 'prediction_type' \"sample\" is not supported by " + class_name +
                      "; expected 'epsilon' or 'v_prediction'");
  }
  return c;
}

KDPM2Config load_kdpm2_config(const std::string& path, const std::string& class_name) {
  return parse_kdpm2_config(detail::read_config_file(path), path, class_name);
}

std::string to_json(const KDPM2Config& c) {
  nlohmann::json out = nlohmann::json::object();
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  detail::write_sigma_kinds(out, c);
  out["prediction_type"] = to_string(c.prediction_type);
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["steps_offset"] = c.steps_offset;
  return out.dump(2);
}

}  // namespace ortdiffusion
