// UniPCConfig: the scheduler_config.json schema of diffusers.UniPCMultistepScheduler (AUTOMATIC1111's
// "UniPC"). Field names and defaults are its __init__'s.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/euler_config.hpp"
#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/prediction_type.hpp"

namespace ortdiffusion {

enum class UniPCSolverType { BH1, BH2 };

struct UniPCConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  BetaSchedule beta_schedule = BetaSchedule::Linear;
  std::optional<std::vector<double>> trained_betas;
  int64_t solver_order = 2;
  PredictionType prediction_type = PredictionType::Epsilon;
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  bool predict_x0 = true;
  UniPCSolverType solver_type = UniPCSolverType::BH2;
  bool lower_order_final = true;
  std::vector<int64_t> disable_corrector;  // step indices whose following corrector is skipped
  std::optional<bool> use_karras_sigmas = false;
  std::optional<bool> use_exponential_sigmas = false;
  std::optional<bool> use_beta_sigmas = false;
  bool use_flow_sigmas = false;
  double flow_shift = 1.0;
  TimestepSpacing timestep_spacing = TimestepSpacing::Linspace;
  int64_t steps_offset = 0;
  FinalSigmasType final_sigmas_type = FinalSigmasType::Zero;
  bool rescale_betas_zero_snr = false;
  bool use_dynamic_shifting = false;
  std::string time_shift_type = "exponential";
  std::optional<double> sigma_min;
  std::optional<double> sigma_max;
  std::optional<bool> shift_terminal;

  static const std::vector<std::string>& keys();
};

// Parses a JSON object as diffusers' from_config does; refused with ConfigError naming the key: wrong
// types, solver_order < 1, a solver_p scheduler, and what ortdiffusion does not implement yet (beta and
// flow sigmas, dynamic shifting, shift_terminal).
UniPCConfig parse_unipc_config(const std::string& json_text, const std::string& source = "config");
UniPCConfig load_unipc_config(const std::string& path);
std::string to_json(const UniPCConfig& config);

}  // namespace ortdiffusion
