// Mirrors diffusers.schedulers.scheduling_euler_ancestral_discrete.EulerAncestralDiscreteScheduler
// (__init__, set_timesteps, step): float32 scalars as diffusers' 0-d tensors, element-wise work in the
// model output's dtype on a float32 copy of the sample.
#include "ortdiffusion/scheduling_euler_ancestral.hpp"

#include <cmath>
#include <string>
#include <type_traits>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

EulerAncestralDiscreteScheduler::EulerAncestralDiscreteScheduler(EulerConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps,
                      config_.trained_betas ? &*config_.trained_betas : nullptr, config_.rescale_betas_zero_snr);
  alphas_cumprod_ = sigma_alphas_cumprod(betas_, config_.rescale_betas_zero_snr);
  train_sigmas_ = training_sigmas(alphas_cumprod_);
  std::vector<float> sigmas(train_sigmas_.rbegin(), train_sigmas_.rend());
  sigmas.push_back(0.0f);
  const std::vector<double> t =
      numpy_linspace(0.0, static_cast<double>(config_.num_train_timesteps - 1), config_.num_train_timesteps);
  stepper_.reset(std::vector<float>(t.rbegin(), t.rend()), std::move(sigmas));
}

void EulerAncestralDiscreteScheduler::set_timesteps(int64_t num_inference_steps) {
  std::vector<float> timesteps =
      float_timesteps(config_.timestep_spacing, config_.num_train_timesteps, num_inference_steps, config_.steps_offset);
  const std::vector<double> sigmas = interp_by_index(timesteps, train_sigmas_);
  std::vector<float> sigmas_f32(sigmas.begin(), sigmas.end());
  sigmas_f32.push_back(0.0f);
  stepper_.reset(std::move(timesteps), std::move(sigmas_f32));
  num_inference_steps_ = num_inference_steps;
}

template <typename T>
void EulerAncestralDiscreteScheduler::step(const T* model_output, double timestep, const T* sample, const Shape& shape,
                                           const T* noise, Generator* generator, T* prev_sample,
                                           T* pred_original_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n) ||
      buffers_overlap(pred_original_sample, sample, n) || buffers_overlap(pred_original_sample, model_output, n) ||
      buffers_overlap(prev_sample, pred_original_sample, n)) {
    throw ArgumentError("EulerAncestralDiscreteScheduler.step: output buffers must not overlap the inputs or each other");
  }
  // (before set_timesteps the schedule is every training timestep, as in diffusers)
  if (noise && generator) throw ArgumentError("Cannot pass both generator and noise: make sure that either stays None");
  if (!noise && !generator) throw ArgumentError("the ancestral step needs noise or a generator to draw it from");
  const int64_t index = stepper_.current_index(timestep);
  const float sigma = stepper_.sigmas()[index];
  std::vector<T> as_f32;  // sample.to(torch.float32)
  const T* x = sample;
  if (!std::is_same_v<T, float>) {
    as_f32.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) as_f32[i] = static_cast<T>(static_cast<float>(sample[i]));
    x = as_f32.data();
  }
  // 1. compute predicted original sample (x_0) from sigma-scaled predicted noise
  if (config_.prediction_type == PredictionType::Epsilon) {
    const auto s = static_cast<T>(sigma);
    for (int64_t i = 0; i < n; ++i) pred_original_sample[i] = x[i] - s * model_output[i];
  } else {  // v_prediction ("sample" is refused by the config parser)
    const float denominator = sigma * sigma + 1.0f;
    const auto c_out = static_cast<T>(-sigma / torch_sqrt(denominator));
    const auto c_in = static_cast<T>(denominator);
    for (int64_t i = 0; i < n; ++i) pred_original_sample[i] = model_output[i] * c_out + x[i] / c_in;
  }
  // 2. the ancestral split of the step (k-diffusion get_ancestral_step, eta = 1)
  const float sigma_from = sigma;
  const float sigma_to = stepper_.sigmas()[index + 1];
  const float sigma_up =
      torch_sqrt(sigma_to * sigma_to * (sigma_from * sigma_from - sigma_to * sigma_to) / (sigma_from * sigma_from));
  const float sigma_down = torch_sqrt(sigma_to * sigma_to - sigma_up * sigma_up);
  // 3. Euler step to sigma_down, then noise of standard deviation sigma_up
  const auto s = static_cast<T>(sigma);
  const auto dt = static_cast<T>(sigma_down - sigma);
  for (int64_t i = 0; i < n; ++i) {
    const T derivative = (x[i] - pred_original_sample[i]) / s;
    prev_sample[i] = x[i] + derivative * dt;
  }
  std::vector<T> drawn;
  if (!noise) {
    drawn.resize(static_cast<size_t>(n));
    generator->randn(drawn.data(), n);
    noise = drawn.data();
  }
  const auto up = static_cast<T>(sigma_up);
  for (int64_t i = 0; i < n; ++i) prev_sample[i] = prev_sample[i] + noise[i] * up;
  stepper_.advance();
}

template void EulerAncestralDiscreteScheduler::step<float>(const float*, double, const float*, const Shape&,
                                                           const float*, Generator*, float*, float*);
template void EulerAncestralDiscreteScheduler::step<double>(const double*, double, const double*, const Shape&,
                                                            const double*, Generator*, double*, double*);

}  // namespace ortdiffusion
