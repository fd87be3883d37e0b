// Reading and writing DPMSolverConfig (diffusers ConfigMixin.from_config / to_json_string semantics).
#include "ortdiffusion/dpmsolver_config.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "config_reader.hpp"
#include "enum_table.hpp"
#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {
namespace {

const std::pair<const char*, DPMAlgorithm> kAlgorithms[] = {
    {"dpmsolver", DPMAlgorithm::DPMSolver},
    {"dpmsolver++", DPMAlgorithm::DPMSolverPP},
    {"sde-dpmsolver", DPMAlgorithm::SDEDPMSolver},
    {"sde-dpmsolver++", DPMAlgorithm::SDEDPMSolverPP},
};
const std::pair<const char*, DPMSolverType> kSolverTypes[] = {
    {"midpoint", DPMSolverType::Midpoint}, {"heun", DPMSolverType::Heun}};

// lambda_min_clipped may be written as -Infinity (Python's json) or a very negative number.
void read_lambda_min(const detail::ConfigReader& r, double& out) {
  const nlohmann::json* v = r.find("lambda_min_clipped");
  if (v && v->is_null()) return;
  r.read("lambda_min_clipped", out);
}

}  // namespace

DPMAlgorithm parse_dpm_algorithm(const std::string& name) {
  if (name == "deis") return DPMAlgorithm::DPMSolverPP;  // diffusers maps DEIS configs to dpmsolver++
  return detail::parse_enum(kAlgorithms, name, "algorithm_type");
}
std::string to_string(DPMAlgorithm algorithm) { return detail::enum_name(kAlgorithms, algorithm); }
DPMSolverType parse_dpm_solver_type(const std::string& name) {
  if (name == "logrho" || name == "bh1" || name == "bh2") return DPMSolverType::Midpoint;  // as diffusers
  return detail::parse_enum(kSolverTypes, name, "solver_type");
}
std::string to_string(DPMSolverType type) { return detail::enum_name(kSolverTypes, type); }

const std::vector<std::string>& DPMSolverConfig::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "solver_order",
      "prediction_type", "thresholding", "dynamic_thresholding_ratio", "sample_max_value", "algorithm_type",
      "solver_type", "lower_order_final", "euler_at_final", "use_karras_sigmas", "use_exponential_sigmas",
      "use_beta_sigmas", "use_lu_lambdas", "use_flow_sigmas", "flow_shift", "final_sigmas_type",
      "lambda_min_clipped", "variance_type", "timestep_spacing", "steps_offset", "rescale_betas_zero_snr",
      "use_dynamic_shifting", "time_shift_type"};
  return k;
}

DPMSolverConfig parse_dpmsolver_config(const std::string& json_text, const std::string& source) {
  const nlohmann::json object = detail::parse_config_object(json_text, source);
  DPMSolverConfig c;
  const detail::ConfigReader r(object, source);
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule);
  r.read("solver_order", c.solver_order);
  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  r.read("thresholding", c.thresholding);
  r.read("dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
  r.read("sample_max_value", c.sample_max_value);
  r.read_enum("algorithm_type", &parse_dpm_algorithm, c.algorithm_type);
  r.read_enum("solver_type", &parse_dpm_solver_type, c.solver_type);
  r.read("lower_order_final", c.lower_order_final);
  r.read("euler_at_final", c.euler_at_final);
  detail::read_sigma_kinds(r, c);
  r.read("use_lu_lambdas", c.use_lu_lambdas);
  r.read("use_flow_sigmas", c.use_flow_sigmas);
  r.read("flow_shift", c.flow_shift);
  r.read_enum("final_sigmas_type", &parse_final_sigmas_type, c.final_sigmas_type);
  read_lambda_min(r, c.lambda_min_clipped);
  if (auto v = r.find("variance_type"); v && !v->is_null()) c.variance_type = r.string("variance_type");
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("steps_offset", c.steps_offset);
  r.read("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  r.read("use_dynamic_shifting", c.use_dynamic_shifting);
  if (auto shift = r.string("time_shift_type")) c.time_shift_type = *shift;
  detail::validate_noise_schedule_keys(c, source);
  if (c.solver_order < 1 || c.solver_order > 3) {
    throw ConfigError(source + ": 'solver_order' must be 1, 2 or 3, got " + std::to_string(c.solver_order));
  }
  detail::validate_sigma_kinds(c, source);
  const bool plus_plus = c.algorithm_type == DPMAlgorithm::DPMSolverPP || c.algorithm_type == DPMAlgorithm::SDEDPMSolverPP;
  if (!plus_plus && c.final_sigmas_type == FinalSigmasType::Zero) {
    throw ConfigError(source + ": 'final_sigmas_type' \"zero\" is not supported for 'algorithm_type' \"" +
                      to_string(c.algorithm_type) + "\"; choose \"sigma_min\"");
  }
  if (c.algorithm_type == DPMAlgorithm::SDEDPMSolver && c.solver_order == 3) {
    throw ConfigError(source + ": 'solver_order' 3 is not available with 'algorithm_type' \"sde-dpmsolver\" "
                      "(diffusers has no third-order update for it)");
  }
  const std::pair<bool, const char*> unsupported[] = {
      {c.use_flow_sigmas, "'use_flow_sigmas' (flow-matching models)"},
      {c.use_dynamic_shifting, "'use_dynamic_shifting' (flow-matching models)"},
      {c.variance_type.has_value(), "'variance_type' (learned variance)"},
  };
  for (const auto& [on, what] : unsupported) {
    if (on) throw ConfigError(source + ": " + what + " is not implemented by ortdiffusion's DPMSolverMultistepScheduler yet");
  }
  if (c.thresholding && !(c.dynamic_thresholding_ratio >= 0.0 && c.dynamic_thresholding_ratio <= 1.0)) {
    throw ConfigError(source + ": 'dynamic_thresholding_ratio' must be in [0, 1], got " +
                      std::to_string(c.dynamic_thresholding_ratio));
  }
  return c;
}

DPMSolverConfig load_dpmsolver_config(const std::string& path) {
  return parse_dpmsolver_config(detail::read_config_file(path), path);
}

std::string to_json(const DPMSolverConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  out["solver_order"] = c.solver_order;
  out["prediction_type"] = to_string(c.prediction_type);
  out["thresholding"] = c.thresholding;
  out["dynamic_thresholding_ratio"] = c.dynamic_thresholding_ratio;
  out["sample_max_value"] = c.sample_max_value;
  out["algorithm_type"] = to_string(c.algorithm_type);
  out["solver_type"] = to_string(c.solver_type);
  out["lower_order_final"] = c.lower_order_final;
  out["euler_at_final"] = c.euler_at_final;
  detail::write_sigma_kinds(out, c);
  out["use_lu_lambdas"] = c.use_lu_lambdas;
  out["use_flow_sigmas"] = c.use_flow_sigmas;
  out["flow_shift"] = c.flow_shift;
  out["final_sigmas_type"] = to_string(c.final_sigmas_type);
  // JSON has no -Infinity: null stands for diffusers' default -inf (Python's json writes -Infinity)
  out["lambda_min_clipped"] = std::isinf(c.lambda_min_clipped) ? nlohmann::json(nullptr) : nlohmann::json(c.lambda_min_clipped);
  out["variance_type"] = detail::optional_json(c.variance_type);
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["steps_offset"] = c.steps_offset;
  out["rescale_betas_zero_snr"] = c.rescale_betas_zero_snr;
  out["use_dynamic_shifting"] = c.use_dynamic_shifting;
  out["time_shift_type"] = c.time_shift_type;
  return out.dump(2);
}

}  // namespace ortdiffusion
