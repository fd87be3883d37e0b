// Mirrors diffusers.schedulers.scheduling_lms_discrete.LMSDiscreteScheduler (__init__, set_timesteps,
// get_lms_coefficient, step) and reads / writes its config. Scalars in float32 as diffusers' tensors.
#include "ortdiffusion/scheduling_lms_discrete.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "config_reader.hpp"
#include "sigma_prediction.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/gauss_kronrod.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

const std::vector<std::string>& LMSConfig::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "use_karras_sigmas",
      "use_exponential_sigmas", "use_beta_sigmas", "prediction_type", "timestep_spacing", "steps_offset"};
  return k;
}

LMSConfig parse_lms_config(const std::string& json_text, const std::string& source) {
  const nlohmann::json object = detail::parse_config_object(json_text, source);
  LMSConfig c;
  const detail::ConfigReader r(object, source);
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule);
  detail::read_sigma_kinds(r, c);
  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("steps_offset", c.steps_offset);
  detail::validate_noise_schedule_keys(c, source);
  detail::validate_sigma_kinds(c, source);
  return c;
}

LMSConfig load_lms_config(const std::string& path) { return parse_lms_config(detail::read_config_file(path), path); }

std::string to_json(const LMSConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  detail::write_sigma_kinds(out, c);
  out["prediction_type"] = to_string(c.prediction_type);
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["steps_offset"] = c.steps_offset;
  return out.dump(2);
}

LMSDiscreteScheduler::LMSDiscreteScheduler(LMSConfig config) : config_(std::move(config)) {
  std::tie(betas_, alphas_cumprod_, train_sigmas_, log_sigmas_) = training_sigma_tables(
      config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps, config_.trained_betas);
  set_timesteps(config_.num_train_timesteps);  // diffusers' __init__ does the same
  num_inference_steps_.reset();
}

void LMSDiscreteScheduler::set_timesteps(int64_t n) {
  std::vector<float> timesteps = float_timesteps(config_.timestep_spacing, config_.num_train_timesteps, n, config_.steps_offset);
  std::vector<double> sigmas = interp_by_index(timesteps, train_sigmas_);
  const SigmaKind kind = detail::sigma_kind(config_);
  if (kind != SigmaKind::Plain) {
    sigmas = converted_sigmas(kind, sigmas.back(), sigmas.front(), n);
    timesteps.clear();
    for (double s : sigmas) timesteps.push_back(static_cast<float>(sigma_to_t(s, log_sigmas_)));
  }
  std::vector<float> sigmas_f32(sigmas.begin(), sigmas.end());
  sigmas_f32.push_back(0.0f);
  stepper_.reset(std::move(timesteps), std::move(sigmas_f32));
  num_inference_steps_ = n;
  derivatives_.clear();
}

double LMSDiscreteScheduler::lms_coefficient(int64_t order, int64_t t, int64_t current_order) const {
  const std::vector<float>& sigmas = stepper_.sigmas();
  if (t < 0 || t + 1 >= static_cast<int64_t>(sigmas.size()) || t - (order - 1) < 0 || current_order < 0 ||
      current_order >= order) {
    throw ArgumentError("lms_coefficient: order " + std::to_string(order) + ", step " + std::to_string(t) +
                        " and current_order " + std::to_string(current_order) + " do not fit this schedule's " +
                        std::to_string(sigmas.size() - 1) + " steps");
  }
  // the Lagrange basis polynomial, evaluated as diffusers' lms_derivative does on 0-d float32 tensors:
  // each factor (float32(tau) - s_k) / (s_c - s_k) rounded to float32, the running product in float32
  const float s_current = sigmas[t - current_order];
  const auto basis = [&](double tau) -> double {
    if (order == 1) return 1.0;  // the Python float 1.0: no tensor factor
    float prod = 1.0f;
    for (int64_t k = 0; k < order; ++k) {
      if (k == current_order) continue;
      const float s_k = sigmas[t - k];
      prod = prod * ((static_cast<float>(tau) - s_k) / (s_current - s_k));
    }
    return static_cast<double>(prod);
  };
  return gauss_kronrod_21(basis, static_cast<double>(sigmas[t]), static_cast<double>(sigmas[t + 1])).integral;
}

template <typename T>
void LMSDiscreteScheduler::step(const T* model_output, double timestep, const T* sample, const Shape& shape,
                                int64_t order, T* prev_sample, T* pred_original_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n) ||
      buffers_overlap(pred_original_sample, sample, n) || buffers_overlap(pred_original_sample, model_output, n) ||
      buffers_overlap(prev_sample, pred_original_sample, n)) {
    throw ArgumentError("LMSDiscreteScheduler.step: output buffers must not overlap the inputs or each other");
  }
  if (order < 1) throw ArgumentError("LMSDiscreteScheduler.step: order must be at least 1, got " + std::to_string(order));
  if (!derivatives_.empty() && static_cast<int64_t>(derivatives_.back().size()) != n) {
    throw ArgumentError("LMSDiscreteScheduler.step: got " + std::to_string(n) + " elements but the previous step had " +
                        std::to_string(derivatives_.back().size()) + "; call set_timesteps to start a new loop");
  }
  const int64_t index = stepper_.current_index(timestep);
  const float sigma = stepper_.sigmas()[index];
  // 1. predicted original sample (x_0) from sigma-scaled predicted noise
  detail::sigma_pred_original_sample(config_.prediction_type, sigma, model_output, sample, n, pred_original_sample);
  // 2. the ODE derivative, kept for up to `order` steps
  std::vector<double> derivative(static_cast<size_t>(n));
  const auto s = static_cast<T>(sigma);
  for (int64_t i = 0; i < n; ++i) derivative[i] = static_cast<double>((sample[i] - pred_original_sample[i]) / s);
  derivatives_.push_back(std::move(derivative));
  if (static_cast<int64_t>(derivatives_.size()) > order) derivatives_.pop_front();
  // 3. linear multistep: sample + sum_k coeff_k derivative_{t-k}, summed in diffusers' order (most recent first)
  const int64_t used = std::min(index + 1, order);
  std::vector<T> coeffs(static_cast<size_t>(used));
  for (int64_t k = 0; k < used; ++k) coeffs[k] = static_cast<T>(lms_coefficient(used, index, k));
  const int64_t held = static_cast<int64_t>(derivatives_.size());
  for (int64_t i = 0; i < n; ++i) {
    T sum = coeffs[0] * static_cast<T>(derivatives_[held - 1][i]);
    for (int64_t k = 1; k < used && k < held; ++k) sum = sum + coeffs[k] * static_cast<T>(derivatives_[held - 1 - k][i]);
    prev_sample[i] = sample[i] + sum;
  }
  stepper_.advance();
}

template void LMSDiscreteScheduler::step<float>(const float*, double, const float*, const Shape&, int64_t, float*, float*);
template void LMSDiscreteScheduler::step<double>(const double*, double, const double*, const Shape&, int64_t, double*,
                                                 double*);

}  // namespace ortdiffusion
