// Mirrors diffusers.schedulers.scheduling_heun_discrete.HeunDiscreteScheduler (__init__, set_timesteps,
// step) and reads / writes its config. Sigma schedules as Euler's (sigma_schedule.hpp); scalars float32.
#include "ortdiffusion/scheduling_heun_discrete.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "config_reader.hpp"
#include "sigma_prediction.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

const std::vector<std::string>& HeunConfig::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type",
      "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "clip_sample", "clip_sample_range",
      "timestep_spacing", "steps_offset"};
  return k;
}

HeunConfig parse_heun_config(const std::string& json_text, const std::string& source) {
  const nlohmann::json object = detail::parse_config_object(json_text, source);
  HeunConfig c;
  const detail::ConfigReader r(object, source);
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule_with_exp);  // Heun alone takes "exp"

  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  detail::read_sigma_kinds(r, c);
  r.read("clip_sample", c.clip_sample);
  r.read("clip_sample_range", c.clip_sample_range);
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("steps_offset", c.steps_offset);
  detail::validate_noise_schedule_keys(c, source);
  detail::validate_sigma_kinds(c, source);
  return c;
}

HeunConfig load_heun_config(const std::string& path) { return parse_heun_config(detail::read_config_file(path), path); }

std::string to_json(const HeunConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  out["prediction_type"] = to_string(c.prediction_type);
  detail::write_sigma_kinds(out, c);
  out["clip_sample"] = c.clip_sample;
  out["clip_sample_range"] = c.clip_sample_range;
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["steps_offset"] = c.steps_offset;
  return out.dump(2);
}

HeunDiscreteScheduler::HeunDiscreteScheduler(HeunConfig config) : config_(std::move(config)) {
  std::tie(betas_, alphas_cumprod_, train_sigmas_, log_sigmas_) = training_sigma_tables(
      config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps, config_.trained_betas);
  set_timesteps(config_.num_train_timesteps);  // diffusers' __init__ does the same
  num_inference_steps_.reset();
}

void HeunDiscreteScheduler::set_timesteps(int64_t n) {
  schedule(float_timesteps(config_.timestep_spacing, config_.num_train_timesteps, n, config_.steps_offset), n);
}

void HeunDiscreteScheduler::set_timesteps_from(const std::vector<float>& timesteps) {
  if (config_.use_karras_sigmas.value_or(false) || config_.use_exponential_sigmas.value_or(false)) {
    throw ArgumentError("Cannot use `timesteps` with use_karras_sigmas or use_exponential_sigmas");
  }
  if (timesteps.empty()) throw ArgumentError("timesteps must not be empty");
  schedule(timesteps, static_cast<int64_t>(timesteps.size()));
}

void HeunDiscreteScheduler::schedule(std::vector<float> timesteps, int64_t n) {
  std::vector<double> sigmas = interp_by_index(timesteps, train_sigmas_);
  const bool karras = config_.use_karras_sigmas.value_or(false);
  const bool exponential = config_.use_exponential_sigmas.value_or(false) || config_.use_beta_sigmas.value_or(false);  // beta sigmas' timesteps as exponential's
  if (karras || exponential) {
    const double sigma_min = sigmas.back(), sigma_max = sigmas.front();
    sigmas = converted_sigmas(detail::sigma_kind(config_), sigma_min, sigma_max, n);
    timesteps.clear();
    for (double s : sigmas) timesteps.push_back(static_cast<float>(sigma_to_t(s, log_sigmas_)));
  }
  std::vector<float> sigmas_f32(sigmas.begin(), sigmas.end());
  sigmas_f32.push_back(0.0f);
  // interleave: sigmas[:1], sigmas[1:-1] twice each, sigmas[-1:]; timesteps[:1], timesteps[1:] twice each
  std::vector<float> s2 = {sigmas_f32.front()}, t2 = {timesteps.front()};
  for (size_t i = 1; i + 1 < sigmas_f32.size(); ++i) s2.insert(s2.end(), 2, sigmas_f32[i]);
  s2.push_back(sigmas_f32.back());
  for (size_t i = 1; i < timesteps.size(); ++i) t2.insert(t2.end(), 2, timesteps[i]);
  stepper_.reset(std::move(t2), std::move(s2));
  num_inference_steps_ = n;
  has_dt_ = false;
}

template <typename T>
void HeunDiscreteScheduler::step(const T* model_output, double timestep, const T* sample, const Shape& shape,
                                 T* prev_sample, T* pred_original_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n) ||
      buffers_overlap(pred_original_sample, sample, n) || buffers_overlap(pred_original_sample, model_output, n) ||
      buffers_overlap(prev_sample, pred_original_sample, n)) {
    throw ArgumentError("HeunDiscreteScheduler.step: output buffers must not overlap the inputs or each other");
  }
  const bool first = !has_dt_;
  if (!first && static_cast<int64_t>(first_sample_.size()) != n) {
    throw ArgumentError("HeunDiscreteScheduler.step: the corrector got " + std::to_string(n) +
                        " elements but the predictor had " + std::to_string(first_sample_.size()));
  }
  const int64_t index = stepper_.current_index(timestep);
  const std::vector<float>& sigmas = stepper_.sigmas();
  const float sigma = first ? sigmas[index] : sigmas[index - 1];
  const float sigma_next = first ? sigmas[index + 1] : sigmas[index];
  const float sigma_hat = sigma;  // gamma = 0
  const float sigma_input = first ? sigma_hat : sigma_next;
  // 1. predicted original sample (x_0) from sigma-scaled predicted noise
  detail::sigma_pred_original_sample(config_.prediction_type, sigma_input, model_output, sample, n, pred_original_sample);
  if (config_.clip_sample) {
    const auto lo = static_cast<T>(-config_.clip_sample_range), hi = static_cast<T>(config_.clip_sample_range);
    for (int64_t i = 0; i < n; ++i) pred_original_sample[i] = std::min(std::max(pred_original_sample[i], lo), hi);
  }
  if (first) {
    // 2. predictor: derivative at sigma, Euler step to sigma_next (kept for the corrector)
    const auto s_hat = static_cast<T>(sigma_hat);
    const float dt = sigma_next - sigma_hat;
    prev_derivative_.resize(static_cast<size_t>(n));
    first_sample_.assign(sample, sample + n);
    for (int64_t i = 0; i < n; ++i) {
      const T derivative = (sample[i] - pred_original_sample[i]) / s_hat;
      prev_derivative_[i] = static_cast<double>(derivative);
      prev_sample[i] = sample[i] + derivative * static_cast<T>(dt);
    }
    dt_ = dt;
    has_dt_ = true;
  } else {
    // 3. corrector: the average of both derivatives, from the predictor's sample
    const auto s_next = static_cast<T>(sigma_next);
    for (int64_t i = 0; i < n; ++i) {
      T derivative = (sample[i] - pred_original_sample[i]) / s_next;
      derivative = (static_cast<T>(prev_derivative_[i]) + derivative) / T(2);
      prev_sample[i] = static_cast<T>(first_sample_[i]) + derivative * static_cast<T>(dt_);
    }
    has_dt_ = false;
  }
  stepper_.advance();
}

template void HeunDiscreteScheduler::step<float>(const float*, double, const float*, const Shape&, float*, float*);
template void HeunDiscreteScheduler::step<double>(const double*, double, const double*, const Shape&, double*, double*);

}  // namespace ortdiffusion
