// DPMSolverConfig: the scheduler_config.json schema of diffusers.DPMSolverMultistepScheduler (AUTOMATIC1111's
// "DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE" ...). Field names and defaults are its __init__'s.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/euler_config.hpp"
#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/prediction_type.hpp"

namespace ortdiffusion {

enum class DPMAlgorithm { DPMSolver, DPMSolverPP, SDEDPMSolver, SDEDPMSolverPP };
enum class DPMSolverType { Midpoint, Heun };

DPMAlgorithm parse_dpm_algorithm(const std::string& name);
std::string to_string(DPMAlgorithm algorithm);
DPMSolverType parse_dpm_solver_type(const std::string& name);
std::string to_string(DPMSolverType type);

struct DPMSolverConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::optional<std::vector<double>> trained_betas;
  int64_t solver_order = 2;  // 1, 2 or 3
  PredictionType prediction_type = PredictionType::Epsilon;
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  DPMAlgorithm algorithm_type = DPMAlgorithm::DPMSolverPP;
  DPMSolverType solver_type = DPMSolverType::Midpoint;
  bool lower_order_final = true;
  bool euler_at_final = false;
  std::optional<bool> use_karras_sigmas = false;
  std::optional<bool> use_exponential_sigmas = false;
  std::optional<bool> use_beta_sigmas = false;
  bool use_lu_lambdas = false;
  bool use_flow_sigmas = false;
  double flow_shift = 1.0;
  FinalSigmasType final_sigmas_type = FinalSigmasType::Zero;
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();
  std::optional<std::string> variance_type;  // "learned" / "learned_range" are refused (SD 1.x UNets predict epsilon)
  TimestepSpacing timestep_spacing = TimestepSpacing::Linspace;
  int64_t steps_offset = 0;
  bool rescale_betas_zero_snr = false;
  bool use_dynamic_shifting = false;
  std::string time_shift_type = "exponential";

  static const std::vector<std::string>& keys();
};

// Parses a JSON object as diffusers' from_config does. Refused with ConfigError naming the key: values of
// the wrong type, solver_order outside 1-3, "zero" final sigmas with dpmsolver / sde-dpmsolver (as
// diffusers), and the options ortdiffusion does not implement yet (flow sigmas,
// dynamic shifting, learned variance).
DPMSolverConfig parse_dpmsolver_config(const std::string& json_text, const std::string& source = "config");
DPMSolverConfig load_dpmsolver_config(const std::string& path);
std::string to_json(const DPMSolverConfig& config);

}  // namespace ortdiffusion
