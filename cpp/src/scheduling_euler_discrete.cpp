// Mirrors diffusers.schedulers.scheduling_euler_discrete.EulerDiscreteScheduler (__init__, set_timesteps,
// step). Sigma schedules follow diffusers' numpy float64 / torch float32 split (sigma_schedule.hpp); the
// step's scalars are float32 like diffusers' 0-d tensors, the element-wise work runs in the model
// output's dtype on a float32 copy of the sample (diffusers' sample.to(torch.float32)).
#include "ortdiffusion/scheduling_euler_discrete.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "config_reader.hpp"
#include "sigma_prediction.hpp"
#include "sigma_step_kernels.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

EulerDiscreteScheduler::EulerDiscreteScheduler(EulerConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps,
                      config_.trained_betas ? &*config_.trained_betas : nullptr, config_.rescale_betas_zero_snr);
  alphas_cumprod_ = sigma_alphas_cumprod(betas_, config_.rescale_betas_zero_snr);
  train_sigmas_ = training_sigmas(alphas_cumprod_);
  log_sigmas_ = log_f32(train_sigmas_);
  // Before set_timesteps: every training timestep, descending, with sigmas flipped and a final 0.
  std::vector<float> sigmas(train_sigmas_.rbegin(), train_sigmas_.rend());
  std::vector<float> timesteps;
  if (config_.timestep_type == TimestepType::Continuous && config_.prediction_type == PredictionType::VPrediction) {
    for (float s : sigmas) timesteps.push_back(0.25f * std::log(s));
  } else {
    const std::vector<double> t = numpy_linspace(0.0, static_cast<double>(config_.num_train_timesteps - 1),
                                                 config_.num_train_timesteps);
    timesteps.assign(t.rbegin(), t.rend());
  }
  sigmas.push_back(0.0f);
  stepper_.reset(std::move(timesteps), std::move(sigmas));
}

void EulerDiscreteScheduler::set_timesteps(int64_t num_inference_steps) {
  schedule_from_timesteps(float_timesteps(config_.timestep_spacing, config_.num_train_timesteps, num_inference_steps,
                                          config_.steps_offset),
                          num_inference_steps);
}

void EulerDiscreteScheduler::set_timesteps_from(const std::vector<float>& timesteps) {
  if (config_.use_karras_sigmas.value_or(false) || config_.use_exponential_sigmas.value_or(false)) {
    throw ArgumentError("Cannot set `timesteps` with use_karras_sigmas or use_exponential_sigmas: those choose the "
                        "timesteps from their sigmas");
  }
  if (config_.timestep_type == TimestepType::Continuous && config_.prediction_type == PredictionType::VPrediction) {
    throw ArgumentError("Cannot set `timesteps` with timestep_type='continuous' and prediction_type='v_prediction'");
  }
  if (timesteps.empty()) throw ArgumentError("timesteps must not be empty");
  schedule_from_timesteps(timesteps, static_cast<int64_t>(timesteps.size()));
}

void EulerDiscreteScheduler::schedule_from_timesteps(std::vector<float> timesteps, int64_t n) {
  std::vector<double> sigmas;
  if (config_.interpolation_type == InterpolationType::Linear) {
    sigmas = interp_by_index(timesteps, train_sigmas_);
  } else {
    // torch.linspace(log(sigmas[-1]), log(sigmas[0]), n + 1).exp() in float32
    const std::vector<float> logs = torch_linspace_f32(std::log(train_sigmas_.back()), std::log(train_sigmas_.front()), n + 1);
    for (float v : logs) sigmas.push_back(std::exp(v));
  }
  const bool karras = config_.use_karras_sigmas.value_or(false);
  const bool exponential = config_.use_exponential_sigmas.value_or(false) || config_.use_beta_sigmas.value_or(false);  // beta sigmas' timesteps as exponential's
  std::vector<double> fractional;  // timesteps of Karras / exponential sigmas, float64 until the end
  if (karras || exponential) {
    const double sigma_min = config_.sigma_min.value_or(sigmas.back());
    const double sigma_max = config_.sigma_max.value_or(sigmas.front());
    sigmas = converted_sigmas(detail::sigma_kind(config_), sigma_min, sigma_max, n);
    for (double s : sigmas) fractional.push_back(sigma_to_t(s, log_sigmas_));
  }
  // final sigma: sigma at timestep 0, or zero
  const double sigma_last = config_.final_sigmas_type == FinalSigmasType::SigmaMin
                                ? static_cast<double>(torch_sqrt((1.0f - alphas_cumprod_[0]) / alphas_cumprod_[0]))
                                : 0.0;
  std::vector<float> sigmas_f32(sigmas.begin(), sigmas.end());
  sigmas_f32.push_back(static_cast<float>(sigma_last));
  if (config_.timestep_type == TimestepType::Continuous && config_.prediction_type == PredictionType::VPrediction) {
    timesteps.clear();
    for (size_t i = 0; i + 1 < sigmas_f32.size(); ++i) timesteps.push_back(0.25f * std::log(sigmas_f32[i]));
  } else if (!fractional.empty()) {
    timesteps.assign(fractional.begin(), fractional.end());
  }
  stepper_.reset(std::move(timesteps), std::move(sigmas_f32));
  num_inference_steps_ = n;
}

void EulerDiscreteScheduler::set_sigmas(const std::vector<float>& sigmas) {
  if (sigmas.size() < 2) {
    throw ArgumentError("sigmas needs at least 2 values (the levels of the steps, then the level after the last), got " +
                        std::to_string(sigmas.size()));
  }
  std::vector<float> timesteps;
  const bool continuous_v =
      config_.timestep_type == TimestepType::Continuous && config_.prediction_type == PredictionType::VPrediction;
  for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
    timesteps.push_back(continuous_v ? 0.25f * std::log(sigmas[i]) : static_cast<float>(sigma_to_t_f32(sigmas[i], log_sigmas_)));
  }
  stepper_.reset(std::move(timesteps), sigmas);
  num_inference_steps_ = static_cast<int64_t>(sigmas.size()) - 1;
}

template <typename T>
void EulerDiscreteScheduler::step(const T* model_output, double timestep, const T* sample, const Shape& shape,
                                  const EulerStepOptions<T>& options, T* prev_sample, T* pred_original_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n) ||
      buffers_overlap(pred_original_sample, sample, n) || buffers_overlap(pred_original_sample, model_output, n) ||
      buffers_overlap(prev_sample, pred_original_sample, n)) {
    throw ArgumentError("EulerDiscreteScheduler.step: output buffers must not overlap the inputs or each other");
  }
  // (before set_timesteps the schedule is every training timestep, as in diffusers)
  const int64_t index = stepper_.current_index(timestep);
  const std::vector<float>& sigmas = stepper_.sigmas();
  const float sigma = sigmas[index];
  // gamma = min(s_churn / (len(sigmas) - 1), 2 ** 0.5 - 1) if s_tmin <= sigma <= s_tmax else 0
  double gamma = 0.0;
  if (options.s_tmin <= sigma && sigma <= options.s_tmax) {
    gamma = std::min(options.s_churn / static_cast<double>(sigmas.size() - 1), std::sqrt(2.0) - 1.0);
  }
  const float sigma_hat = sigma * static_cast<float>(gamma + 1.0);
  // the sample in float32 (diffusers: sample = sample.to(torch.float32)), then in T for the arithmetic
  std::vector<T> churned;
  const T* x = sample;
  if (!std::is_same_v<T, float> || gamma > 0) {
    churned.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) churned[i] = static_cast<T>(static_cast<float>(sample[i]));
    x = churned.data();
  }
  if (gamma > 0) {
    if (options.noise && options.generator) {
      throw ArgumentError("Cannot pass both generator and noise: make sure that either stays None");
    }
    std::vector<T> drawn;
    const T* noise = options.noise;
    if (!noise) {
      if (!options.generator) throw ArgumentError("s_churn > 0 needs noise or a generator to draw it from");
      drawn.resize(static_cast<size_t>(n));
      options.generator->randn(drawn.data(), n);
      noise = drawn.data();
    }
    // sample = sample + (noise * s_noise) * (sigma_hat ** 2 - sigma ** 2) ** 0.5
    const auto s_noise = static_cast<T>(options.s_noise);
    const auto spread = static_cast<T>(torch_sqrt(sigma_hat * sigma_hat - sigma * sigma));
    for (int64_t i = 0; i < n; ++i) churned[i] = churned[i] + (noise[i] * s_noise) * spread;
  }
  // 1. compute predicted original sample (x_0) from sigma-scaled predicted noise (diffusers scales epsilon by
  // sigma_hat, the churned sigma, and v-prediction by sigma)
  // 2. convert to an ODE derivative, (x - x_0) / sigma_hat, and take the Euler step x + derivative * dt
  const auto s_hat = static_cast<T>(sigma_hat);
  const auto dt = static_cast<T>(sigmas[index + 1] - sigma_hat);
  if (config_.prediction_type == PredictionType::Epsilon) {
    detail::euler_epsilon_step(x, model_output, n, s_hat, s_hat, dt, pred_original_sample, prev_sample);  // one pass
  } else {
    detail::sigma_pred_original_sample(config_.prediction_type, sigma, model_output, x, n, pred_original_sample);
    detail::euler_update(x, pred_original_sample, n, s_hat, dt, prev_sample);
  }
  stepper_.advance();
}

template void EulerDiscreteScheduler::step<float>(const float*, double, const float*, const Shape&,
                                                  const EulerStepOptions<float>&, float*, float*);
template void EulerDiscreteScheduler::step<double>(const double*, double, const double*, const Shape&,
                                                   const EulerStepOptions<double>&, double*, double*);

}  // namespace ortdiffusion
