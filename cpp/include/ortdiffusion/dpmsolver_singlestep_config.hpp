// DPMSolverSinglestepConfig: the scheduler_config.json schema of diffusers.DPMSolverSinglestepScheduler
// (AUTOMATIC1111's "DPM++ SDE" in diffusers' table). Field names and defaults are its __init__'s.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/dpmsolver_config.hpp"

namespace ortdiffusion {

struct DPMSolverSinglestepConfig {
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
  DPMAlgorithm algorithm_type = DPMAlgorithm::DPMSolverPP;  // dpmsolver, dpmsolver++ or sde-dpmsolver++
  DPMSolverType solver_type = DPMSolverType::Midpoint;
  bool lower_order_final = false;
  std::optional<bool> use_karras_sigmas = false;
  std::optional<bool> use_exponential_sigmas = false;
  std::optional<bool> use_beta_sigmas = false;
  bool use_flow_sigmas = false;
  double flow_shift = 1.0;
  FinalSigmasType final_sigmas_type = FinalSigmasType::Zero;
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();
  std::optional<std::string> variance_type;
  bool use_dynamic_shifting = false;
  std::string time_shift_type = "exponential";

  static const std::vector<std::string>& keys();
};

// Parses a JSON object as diffusers' from_config does. ConfigError naming the key for: values of the wrong
// type, solver_order outside 1-3, algorithm "sde-dpmsolver" (diffusers has none for this class), "zero"
// final sigmas with dpmsolver (as diffusers), thresholding with dpmsolver (diffusers' code path indexes its
// alphas with no timestep and fails), and what ortdiffusion does not implement (flow sigmas, dynamic
// shifting, learned variance).
DPMSolverSinglestepConfig parse_dpmsolver_singlestep_config(const std::string& json_text,
                                                            const std::string& source = "config");
DPMSolverSinglestepConfig load_dpmsolver_singlestep_config(const std::string& path);
std::string to_json(const DPMSolverSinglestepConfig& config);

}  // namespace ortdiffusion
