// Mirrors diffusers.schedulers.scheduling_ddpm.DDPMScheduler (__init__, set_timesteps, previous_timestep,
// _get_variance, step) and reads / writes its config. Scalars are float32 like diffusers' 0-d tensors.
#include "ortdiffusion/scheduling_ddpm.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "config_reader.hpp"
#include "enum_table.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/forward_process.hpp"
#include "ortdiffusion/thresholding.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {
namespace {

const std::pair<const char*, DDPMVariance> kVariances[] = {
    {"fixed_small", DDPMVariance::FixedSmall},
    {"fixed_small_log", DDPMVariance::FixedSmallLog},
    {"fixed_large", DDPMVariance::FixedLarge},
    {"fixed_large_log", DDPMVariance::FixedLargeLog},
};

DDPMVariance parse_variance(const std::string& name) { return detail::parse_enum(kVariances, name, "variance_type"); }

}  // namespace

const std::vector<std::string>& DDPMConfig::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "variance_type",
      "clip_sample", "prediction_type", "thresholding", "dynamic_thresholding_ratio", "clip_sample_range",
      "sample_max_value", "timestep_spacing", "steps_offset", "rescale_betas_zero_snr"};
  return k;
}

DDPMConfig parse_ddpm_config(const std::string& json_text, const std::string& source) {
  const nlohmann::json object = detail::parse_config_object(json_text, source);
  DDPMConfig c;
  const detail::ConfigReader r(object, source);
  if (auto schedule = r.string("beta_schedule"); schedule && (*schedule == "sigmoid" || *schedule == "laplace")) {
    throw ConfigError(source + ": beta_schedule '" + *schedule + "' is not implemented by ortdiffusion's DDPMScheduler yet");
  }
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule);
  if (auto variance = r.string("variance_type"); variance && (*variance == "learned" || *variance == "learned_range")) {
    throw ConfigError(source + ": variance_type '" + *variance + "' (a UNet that predicts its variance) is not "
                      "implemented by ortdiffusion's DDPMScheduler");
  }
  r.read_enum("variance_type", &parse_variance, c.variance_type);
  r.read("clip_sample", c.clip_sample);
  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  r.read("thresholding", c.thresholding);
  r.read("dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
  r.read("clip_sample_range", c.clip_sample_range);
  r.read("sample_max_value", c.sample_max_value);
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("steps_offset", c.steps_offset);
  r.read("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  detail::validate_noise_schedule_keys(c, source);
  return c;
}

DDPMConfig load_ddpm_config(const std::string& path) { return parse_ddpm_config(detail::read_config_file(path), path); }

std::string to_json(const DDPMConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  out["variance_type"] = detail::enum_name(kVariances, c.variance_type);
  out["clip_sample"] = c.clip_sample;
  out["prediction_type"] = to_string(c.prediction_type);
  out["thresholding"] = c.thresholding;
  out["dynamic_thresholding_ratio"] = c.dynamic_thresholding_ratio;
  out["clip_sample_range"] = c.clip_sample_range;
  out["sample_max_value"] = c.sample_max_value;
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["steps_offset"] = c.steps_offset;
  out["rescale_betas_zero_snr"] = c.rescale_betas_zero_snr;
  return out.dump(2);
}

DDPMScheduler::DDPMScheduler(DDPMConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps,
                      config_.trained_betas ? &*config_.trained_betas : nullptr, config_.rescale_betas_zero_snr);
  alphas_cumprod_ = alphas_cumprod_from_betas(betas_);
  for (int64_t t = config_.num_train_timesteps - 1; t >= 0; --t) timesteps_.push_back(t);
}

void DDPMScheduler::set_timesteps(int64_t n) {
  if (n > config_.num_train_timesteps) {
    throw ArgumentError("`num_inference_steps`: " + std::to_string(n) + " cannot be larger than num_train_timesteps: " +
                        std::to_string(config_.num_train_timesteps));
  }
  timesteps_ = spaced_timesteps(config_.timestep_spacing, config_.num_train_timesteps, n, config_.steps_offset);
  num_inference_steps_ = n;
  custom_timesteps_ = false;
}

void DDPMScheduler::set_timesteps_from(const std::vector<int64_t>& timesteps) {
  if (timesteps.empty()) throw ArgumentError("timesteps must not be empty");
  for (size_t i = 1; i < timesteps.size(); ++i) {
    if (timesteps[i] >= timesteps[i - 1]) throw ArgumentError("`custom_timesteps` must be in descending order.");
  }
  if (timesteps[0] >= config_.num_train_timesteps) {
    throw ArgumentError("`timesteps` must start before num_train_timesteps: " + std::to_string(config_.num_train_timesteps));
  }
  timesteps_ = timesteps;
  custom_timesteps_ = true;
  num_inference_steps_.reset();
}

int64_t DDPMScheduler::previous_timestep(int64_t timestep) const {
  if (custom_timesteps_ || num_inference_steps_) {
    const auto it = std::find(timesteps_.begin(), timesteps_.end(), timestep);
    if (it == timesteps_.end()) {
      throw ArgumentError("timestep " + std::to_string(timestep) + " is not one of this schedule's " +
                          std::to_string(timesteps_.size()) + " timesteps");
    }
    return it + 1 == timesteps_.end() ? -1 : *(it + 1);
  }
  return timestep - config_.num_train_timesteps / config_.num_train_timesteps;
}

template <typename T>
void DDPMScheduler::step(const T* model_output, int64_t t, const T* sample, const Shape& shape, const T* noise,
                         Generator* generator, T* prev_sample, T* pred_original_sample) const {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n) ||
      buffers_overlap(pred_original_sample, sample, n) || buffers_overlap(pred_original_sample, model_output, n) ||
      buffers_overlap(prev_sample, pred_original_sample, n)) {
    throw ArgumentError("DDPMScheduler.step: output buffers must not overlap the inputs or each other");
  }
  check_timestep(alphas_cumprod_, t, "timestep");
  const int64_t prev_t = previous_timestep(t);
  // 1. compute alphas, betas
  const float alpha_prod_t = alphas_cumprod_[t];
  const float alpha_prod_t_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : 1.0f;
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
  const float current_alpha_t = alpha_prod_t / alpha_prod_t_prev;
  const float current_beta_t = 1.0f - current_alpha_t;
  // 2. predicted original sample from predicted noise ("predicted x_0" of formula (15))
  const auto sa = static_cast<T>(torch_sqrt(alpha_prod_t)), sb = static_cast<T>(torch_sqrt(beta_prod_t));
  switch (config_.prediction_type) {
    case PredictionType::Epsilon:
      for (int64_t i = 0; i < n; ++i) pred_original_sample[i] = (sample[i] - sb * model_output[i]) / sa;
      break;
    case PredictionType::Sample:
      std::copy(model_output, model_output + n, pred_original_sample);
      break;
    case PredictionType::VPrediction:
      for (int64_t i = 0; i < n; ++i) pred_original_sample[i] = sa * sample[i] - sb * model_output[i];
      break;
  }
  // 3. clip or threshold x_0
  if (config_.thresholding) {
    if (shape.size() < 2) throw ArgumentError("thresholding needs a sample of at least 2 dimensions (batch, ...)");
    threshold_sample(pred_original_sample, shape[0], shape[0] == 0 ? 0 : n / shape[0],
                     config_.dynamic_thresholding_ratio, config_.sample_max_value);
  } else if (config_.clip_sample) {
    const auto lo = static_cast<T>(-config_.clip_sample_range), hi = static_cast<T>(config_.clip_sample_range);
    for (int64_t i = 0; i < n; ++i) pred_original_sample[i] = std::min(std::max(pred_original_sample[i], lo), hi);
  }
  // 4.-5. posterior mean mu_t(x_t, x_0), formula (7)
  const auto x0_coeff = static_cast<T>(torch_sqrt(alpha_prod_t_prev) * current_beta_t / beta_prod_t);
  const auto sample_coeff = static_cast<T>(torch_sqrt(current_alpha_t) * beta_prod_t_prev / beta_prod_t);
  for (int64_t i = 0; i < n; ++i) prev_sample[i] = x0_coeff * pred_original_sample[i] + sample_coeff * sample[i];
  // 6. add noise of the posterior's variance (formulas (6) and (7))
  if (t > 0) {
    std::vector<T> drawn;
    if (!noise) {
      if (!generator) throw ArgumentError("DDPMScheduler.step needs noise or a generator for timestep > 0");
      drawn.resize(static_cast<size_t>(n));
      generator->randn(drawn.data(), n);
      noise = drawn.data();
    }
    float variance = std::max((1.0f - alpha_prod_t_prev) / (1.0f - alpha_prod_t) * current_beta_t, 1e-20f);
    float scale = 0.0f;
    switch (config_.variance_type) {
      case DDPMVariance::FixedSmall:
        scale = torch_sqrt(variance);
        break;
      case DDPMVariance::FixedSmallLog:  // exp(0.5 * log(variance)), used as the standard deviation
        scale = std::exp(0.5f * std::log(variance));
        break;
      case DDPMVariance::FixedLarge:
        scale = torch_sqrt(current_beta_t);
        break;
      case DDPMVariance::FixedLargeLog:  // log(beta_t) ** 0.5: NaN for beta_t < 1, as in diffusers
        scale = torch_sqrt(std::log(current_beta_t));
        break;
    }
    const auto s = static_cast<T>(scale);
    for (int64_t i = 0; i < n; ++i) prev_sample[i] = prev_sample[i] + s * noise[i];
  }
}

template void DDPMScheduler::step<float>(const float*, int64_t, const float*, const Shape&, const float*, Generator*,
                                         float*, float*) const;
template void DDPMScheduler::step<double>(const double*, int64_t, const double*, const Shape&, const double*,
                                          Generator*, double*, double*) const;

}  // namespace ortdiffusion
