// Mirrors diffusers.schedulers.scheduling_lcm.LCMScheduler (__init__, set_timesteps,
// get_scalings_for_boundary_condition_discrete, step) and reads / writes its config. Scalars are float32 like
// diffusers' 0-d tensors (the timestep arrives as an int64 tensor, so timestep * timestep_scaling is float32).
#include "ortdiffusion/scheduling_lcm.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "config_reader.hpp"
#include "ortdiffusion/consistency_timesteps.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/forward_process.hpp"
#include "ortdiffusion/thresholding.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

const std::vector<std::string>& LCMConfig::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "original_inference_steps",
      "clip_sample", "clip_sample_range", "set_alpha_to_one", "steps_offset", "prediction_type", "thresholding",
      "dynamic_thresholding_ratio", "sample_max_value", "timestep_spacing", "timestep_scaling",
      "rescale_betas_zero_snr"};
  return k;
}

LCMConfig parse_lcm_config(const std::string& json_text, const std::string& source) {
  const nlohmann::json object = detail::parse_config_object(json_text, source);
  LCMConfig c;
  const detail::ConfigReader r(object, source);
  detail::read_noise_schedule_keys(r, c, &parse_beta_schedule);
  r.read("original_inference_steps", c.original_inference_steps);
  r.read("clip_sample", c.clip_sample);
  r.read("clip_sample_range", c.clip_sample_range);
  r.read("set_alpha_to_one", c.set_alpha_to_one);
  r.read("steps_offset", c.steps_offset);
  r.read_enum("prediction_type", &parse_prediction_type, c.prediction_type);
  r.read("thresholding", c.thresholding);
  r.read("dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
  r.read("sample_max_value", c.sample_max_value);
  r.read_enum("timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("timestep_scaling", c.timestep_scaling);
  r.read("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  detail::validate_noise_schedule_keys(c, source);
  if (c.original_inference_steps < 1) {
    throw ConfigError(source + ": 'original_inference_steps' must be at least 1, got " +
                      std::to_string(c.original_inference_steps));
  }
  return c;
}

LCMConfig load_lcm_config(const std::string& path) { return parse_lcm_config(detail::read_config_file(path), path); }

std::string to_json(const LCMConfig& c) {
  nlohmann::json out = nlohmann::json::object();
  detail::write_noise_schedule_keys(out, c, static_cast<std::string (*)(BetaSchedule)>(&to_string));
  out["original_inference_steps"] = c.original_inference_steps;
  out["clip_sample"] = c.clip_sample;
  out["clip_sample_range"] = c.clip_sample_range;
  out["set_alpha_to_one"] = c.set_alpha_to_one;
  out["steps_offset"] = c.steps_offset;
  out["prediction_type"] = to_string(c.prediction_type);
  out["thresholding"] = c.thresholding;
  out["dynamic_thresholding_ratio"] = c.dynamic_thresholding_ratio;
  out["sample_max_value"] = c.sample_max_value;
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["timestep_scaling"] = c.timestep_scaling;
  out["rescale_betas_zero_snr"] = c.rescale_betas_zero_snr;
  return out.dump(2);
}

LCMScheduler::LCMScheduler(LCMConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps,
                      config_.trained_betas ? &*config_.trained_betas : nullptr, config_.rescale_betas_zero_snr);
  alphas_cumprod_ = alphas_cumprod_from_betas(betas_);
  final_alpha_cumprod_ = config_.set_alpha_to_one ? 1.0f : alphas_cumprod_.front();
  for (int64_t t = config_.num_train_timesteps - 1; t >= 0; --t) timesteps_.push_back(t);
}

void LCMScheduler::set_timesteps(int64_t n, int64_t original_inference_steps, double strength) {
  const int64_t T = config_.num_train_timesteps;
  const int64_t original = original_inference_steps > 0 ? original_inference_steps : config_.original_inference_steps;
  timesteps_ = pick_consistency_timesteps(distillation_timesteps(T, original, strength, false), n, T, original, strength);
  num_inference_steps_ = n;
  step_index_.reset();
  begin_index_.reset();
}

void LCMScheduler::set_timesteps_from(const std::vector<int64_t>& timesteps, double strength) {
  timesteps_ = custom_consistency_timesteps(timesteps, config_.num_train_timesteps, strength);
  num_inference_steps_ = static_cast<int64_t>(timesteps.size());
  step_index_.reset();
  begin_index_.reset();
}

template <typename T>
void LCMScheduler::step(const T* model_output, int64_t timestep, const T* sample, const Shape& shape, const T* noise,
                        Generator* generator, T* prev_sample, T* denoised) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n) ||
      buffers_overlap(denoised, sample, n) || buffers_overlap(denoised, model_output, n) ||
      buffers_overlap(prev_sample, denoised, n)) {
    throw ArgumentError("LCMScheduler.step: output buffers must not overlap the inputs or each other");
  }
  if (!num_inference_steps_) {
    throw ArgumentError("Number of inference steps is not set: call set_timesteps(n) before step()");
  }
  if (!step_index_) {
    if (begin_index_) {
      step_index_ = *begin_index_;
    } else {
      step_index_ = index_in_schedule(timesteps_, timestep);
    }
  }
  check_timestep(alphas_cumprod_, timestep, "timestep");
  const int64_t index = *step_index_;
  const bool last = index == *num_inference_steps_ - 1;
  if (!last && !noise && !generator) throw ArgumentError("LCMScheduler.step needs noise or a generator");
  // 1. the previous step value
  const int64_t prev_timestep = index + 1 < static_cast<int64_t>(timesteps_.size()) ? timesteps_[index + 1] : timestep;
  // 2. alphas, betas
  const float alpha_prod_t = alphas_cumprod_[timestep];
  const float alpha_prod_t_prev = prev_timestep >= 0 ? alphas_cumprod_[prev_timestep] : final_alpha_cumprod_;
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
  // 3. boundary-condition scalings (consistency models): sigma_data = 0.5
  const float scaled = static_cast<float>(timestep) * static_cast<float>(config_.timestep_scaling);
  const float c_skip = 0.25f / (scaled * scaled + 0.25f);
  const float c_out = scaled / torch_sqrt(scaled * scaled + 0.25f);
  // 4. predicted original sample x_0
  const auto sa = static_cast<T>(torch_sqrt(alpha_prod_t)), sb = static_cast<T>(torch_sqrt(beta_prod_t));
  std::vector<T> x0(static_cast<size_t>(n));
  switch (config_.prediction_type) {
    case PredictionType::Epsilon:
      for (int64_t i = 0; i < n; ++i) x0[i] = (sample[i] - sb * model_output[i]) / sa;
      break;
    case PredictionType::Sample:
      std::copy(model_output, model_output + n, x0.begin());
      break;
    case PredictionType::VPrediction:
      for (int64_t i = 0; i < n; ++i) x0[i] = sa * sample[i] - sb * model_output[i];
      break;
  }
  // 5. clip or threshold x_0
  if (config_.thresholding) {
    if (shape.size() < 2) throw ArgumentError("thresholding needs a sample of at least 2 dimensions (batch, ...)");
    threshold_sample(x0.data(), shape[0], shape[0] == 0 ? 0 : n / shape[0], config_.dynamic_thresholding_ratio,
                     config_.sample_max_value);
  } else if (config_.clip_sample) {
    const auto lo = static_cast<T>(-config_.clip_sample_range), hi = static_cast<T>(config_.clip_sample_range);
    for (T& v : x0) v = std::min(std::max(v, lo), hi);
  }
  // 6. denoised = c_out * x_0 + c_skip * sample
  const auto co = static_cast<T>(c_out), cs = static_cast<T>(c_skip);
  for (int64_t i = 0; i < n; ++i) denoised[i] = co * x0[i] + cs * sample[i];
  // 7. noise to the previous timestep (multistep consistency sampling), except at the last step
  if (last) {
    std::copy(denoised, denoised + n, prev_sample);
  } else {
    std::vector<T> drawn;
    if (!noise) {
      drawn.resize(static_cast<size_t>(n));
      generator->randn(drawn.data(), n);
      noise = drawn.data();
    }
    const auto pa = static_cast<T>(torch_sqrt(alpha_prod_t_prev)), pb = static_cast<T>(torch_sqrt(beta_prod_t_prev));
    for (int64_t i = 0; i < n; ++i) prev_sample[i] = pa * denoised[i] + pb * noise[i];
  }
  ++*step_index_;
}

template void LCMScheduler::step<float>(const float*, int64_t, const float*, const Shape&, const float*, Generator*,
                                        float*, float*);
template void LCMScheduler::step<double>(const double*, int64_t, const double*, const Shape&, const double*,
                                         Generator*, double*, double*);

}  // namespace ortdiffusion
