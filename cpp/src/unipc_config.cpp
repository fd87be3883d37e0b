// Reading and writing UniPCConfig (diffusers ConfigMixin.from_config / to_json_string semantics).
#include "ortdiffusion/unipc_config.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "config_reader.hpp"
#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {

const std::vector<std::string>& UniPCConfig::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "solver_order",
      "prediction_type", "thresholding", "dynamic_thresholding_ratio", "sample_max_value", "predict_x0",
      "solver_type", "lower_order_final", "disable_corrector", "solver_p", "use_karras_sigmas",
      "use_exponential_sigmas", "use_beta_sigmas", "use_flow_sigmas", "flow_shift", "timestep_spacing",
      "steps_offset", "final_sigmas_type", "rescale_betas_zero_snr", "use_dynamic_shifting", "time_shift_type",
      "sigma_min", "sigma_max", "shift_terminal"};
  return k;
}

UniPCConfig parse_unipc_config(const std::string& json_text, const std::string& source) {
  const nlohmann::json object = detail::parse_config_object(json_text, source);
  UniPCConfig c;
  const detail::ConfigReader r(object, source);
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule);
  r.read("solver_order", c.solver_order);
  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  r.read("thresholding", c.thresholding);
  r.read("dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
  r.read("sample_max_value", c.sample_max_value);
  r.read("predict_x0", c.predict_x0);
  if (auto type = r.string("solver_type")) {
    if (*type == "bh1") {
      c.solver_type = UniPCSolverType::BH1;
    } else if (*type == "bh2" || *type == "midpoint" || *type == "heun" || *type == "logrho") {
      c.solver_type = UniPCSolverType::BH2;  // diffusers maps DPM-Solver's solver types to bh2
    } else {
      throw ConfigError(source + ": solver_type '" + *type + "' is not supported; expected one of 'bh1', 'bh2'");
    }
  }
  r.read("lower_order_final", c.lower_order_final);
  if (const auto* v = r.find("disable_corrector"); v && !v->is_null()) {
    if (!v->is_array()) r.fail("disable_corrector", "must be a list of step indices", *v);
    for (const auto& item : *v) {
      if (!item.is_number_integer()) r.fail("disable_corrector", "must be a list of step indices", item);
      c.disable_corrector.push_back(item.get<int64_t>());
    }
  }
  if (const auto* v = r.find("solver_p"); v && !v->is_null()) {
    throw ConfigError(source + ": 'solver_p' (another scheduler as the predictor) is not supported by ortdiffusion's "
                      "UniPCMultistepScheduler");
  }
  detail::read_sigma_kinds(r, c);
  r.read("use_flow_sigmas", c.use_flow_sigmas);
  r.read("flow_shift", c.flow_shift);
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("steps_offset", c.steps_offset);
  r.read_enum("final_sigmas_type", &parse_final_sigmas_type, c.final_sigmas_type);
  r.read("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  r.read("use_dynamic_shifting", c.use_dynamic_shifting);
  if (auto shift = r.string("time_shift_type")) c.time_shift_type = *shift;
  r.read("sigma_min", c.sigma_min);
  r.read("sigma_max", c.sigma_max);
  r.read("shift_terminal", c.shift_terminal);
  detail::validate_noise_schedule_keys(c, source);
  if (c.solver_order < 1) {
    throw ConfigError(source + ": 'solver_order' must be at least 1, got " + std::to_string(c.solver_order));
  }
  detail::validate_sigma_kinds(c, source);
  const std::pair<bool, const char*> unsupported[] = {
      {c.use_flow_sigmas, "'use_flow_sigmas' (flow-matching models)"},
      {c.use_dynamic_shifting, "'use_dynamic_shifting' (flow-matching models)"},
      {c.shift_terminal.has_value(), "'shift_terminal' (flow-matching models)"},
  };
  for (const auto& [on, what] : unsupported) {
    if (on) throw ConfigError(source + ": " + what + " is not implemented by ortdiffusion's UniPCMultistepScheduler yet");
  }
  return c;
}

UniPCConfig load_unipc_config(const std::string& path) { return parse_unipc_config(detail::read_config_file(path), path); }

std::string to_json(const UniPCConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  out["solver_order"] = c.solver_order;
  out["prediction_type"] = to_string(c.prediction_type);
  out["thresholding"] = c.thresholding;
  out["dynamic_thresholding_ratio"] = c.dynamic_thresholding_ratio;
  out["sample_max_value"] = c.sample_max_value;
  out["predict_x0"] = c.predict_x0;
  out["solver_type"] = c.solver_type == UniPCSolverType::BH1 ? "bh1" : "bh2";
  out["lower_order_final"] = c.lower_order_final;
  out["disable_corrector"] = c.disable_corrector;
  out["solver_p"] = nullptr;
  detail::write_sigma_kinds(out, c);
  out["use_flow_sigmas"] = c.use_flow_sigmas;
  out["flow_shift"] = c.flow_shift;
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["steps_offset"] = c.steps_offset;
  out["final_sigmas_type"] = to_string(c.final_sigmas_type);
  out["rescale_betas_zero_snr"] = c.rescale_betas_zero_snr;
  out["use_dynamic_shifting"] = c.use_dynamic_shifting;
  out["time_shift_type"] = c.time_shift_type;
  out["sigma_min"] = detail::optional_json(c.sigma_min);
  out["sigma_max"] = detail::optional_json(c.sigma_max);
  out["shift_terminal"] = detail::optional_json(c.shift_terminal);
  return out.dump(2);
}

}  // namespace ortdiffusion
