// Reading and writing EulerConfig (diffusers ConfigMixin.from_config / to_json_string semantics).
#include "ortdiffusion/euler_config.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "config_reader.hpp"
#include "enum_table.hpp"
#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {
namespace {

const std::pair<const char*, InterpolationType> kInterpolationTypes[] = {
    {"linear", InterpolationType::Linear}, {"log_linear", InterpolationType::LogLinear}};
const std::pair<const char*, TimestepType> kTimestepTypes[] = {
    {"discrete", TimestepType::Discrete}, {"continuous", TimestepType::Continuous}};
const std::pair<const char*, FinalSigmasType> kFinalSigmasTypes[] = {
    {"zero", FinalSigmasType::Zero}, {"sigma_min", FinalSigmasType::SigmaMin}};

}  // namespace

InterpolationType parse_interpolation_type(const std::string& name) {
  return detail::parse_enum(kInterpolationTypes, name, "interpolation_type");
}
std::string to_string(InterpolationType type) { return detail::enum_name(kInterpolationTypes, type); }
TimestepType parse_timestep_type(const std::string& name) { return detail::parse_enum(kTimestepTypes, name, "timestep_type"); }
std::string to_string(TimestepType type) { return detail::enum_name(kTimestepTypes, type); }
FinalSigmasType parse_final_sigmas_type(const std::string& name) {
  return detail::parse_enum(kFinalSigmasTypes, name, "final_sigmas_type");
}
std::string to_string(FinalSigmasType type) { return detail::enum_name(kFinalSigmasTypes, type); }

const std::vector<std::string>& EulerConfig::keys(bool ancestral) {
  static const std::vector<std::string> euler = {
      "num_train_timesteps", "beta_start",        "beta_end",          "beta_schedule",
      "trained_betas",       "prediction_type",   "interpolation_type", "use_karras_sigmas",
      "use_exponential_sigmas", "use_beta_sigmas", "sigma_min",         "sigma_max",
      "timestep_spacing",    "timestep_type",     "steps_offset",      "rescale_betas_zero_snr",
      "final_sigmas_type"};
  static const std::vector<std::string> euler_ancestral = {
      "num_train_timesteps", "beta_start",       "beta_end",     "beta_schedule",         "trained_betas",
      "prediction_type",     "timestep_spacing", "steps_offset", "rescale_betas_zero_snr"};
  return ancestral ? euler_ancestral : euler;
}

EulerConfig parse_euler_config(const std::string& json_text, const std::string& source, bool ancestral) {
  const nlohmann::json object = detail::parse_config_object(json_text, source);
  EulerConfig c;
  const detail::ConfigReader r(object, source);
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule);
  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("steps_offset", c.steps_offset);
  r.read("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  if (!ancestral) {
    r.read_enum("interpolation_type", &parse_interpolation_type, c.interpolation_type);
    detail::read_sigma_kinds(r, c);
    r.read("sigma_min", c.sigma_min);
    r.read("sigma_max", c.sigma_max);
    r.read_enum("timestep_type", &parse_timestep_type, c.timestep_type);
    r.read_enum("final_sigmas_type", &parse_final_sigmas_type, c.final_sigmas_type);
  }
  detail::validate_noise_schedule_keys(c, source);
  detail::validate_sigma_kinds(c, source);
  if (ancestral && c.prediction_type == PredictionType::Sample) {
    throw ConfigError(source + ": 'prediction_type' \"sample\" is not supported by EulerAncestralDiscreteScheduler; "
                      "expected 'epsilon' or 'v_prediction'");
  }
  if (c.rescale_betas_zero_snr && c.num_train_timesteps < 2) {
    throw ConfigError(source + ": 'rescale_betas_zero_snr' needs num_train_timesteps >= 2");
  }
  return c;
}

EulerConfig load_euler_config(const std::string& path, bool ancestral) {
  return parse_euler_config(detail::read_config_file(path), path, ancestral);
}

std::string to_json(const EulerConfig& c, bool ancestral) {
  nlohmann::json out = nlohmann::json::object();
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  out["prediction_type"] = to_string(c.prediction_type);
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["steps_offset"] = c.steps_offset;
  out["rescale_betas_zero_snr"] = c.rescale_betas_zero_snr;
  if (!ancestral) {
    out["interpolation_type"] = to_string(c.interpolation_type);
    detail::write_sigma_kinds(out, c);
    out["sigma_min"] = detail::optional_json(c.sigma_min);
    out["sigma_max"] = detail::optional_json(c.sigma_max);
    out["timestep_type"] = to_string(c.timestep_type);
    out["final_sigmas_type"] = to_string(c.final_sigmas_type);
  }
  return out.dump(2);
}

}  // namespace ortdiffusion
