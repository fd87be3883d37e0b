// Mirrors diffusers.schedulers.scheduling_k_dpm_2_ancestral_discrete.KDPM2AncestralDiscreteScheduler
// (__init__, set_timesteps, scale_model_input, step). Scalars in float32 as diffusers' tensors.
#include "ortdiffusion/scheduling_k_dpm_2_ancestral_discrete.hpp"

#include <string>
#include <tuple>

#include "kdpm2_schedule.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

KDPM2AncestralDiscreteScheduler::KDPM2AncestralDiscreteScheduler(KDPM2Config config) : config_(std::move(config)) {
  std::tie(betas_, alphas_cumprod_, train_sigmas_, log_sigmas_) = training_sigma_tables(
      config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps, config_.trained_betas);
  set_timesteps(config_.num_train_timesteps);  // diffusers' __init__ does the same
  num_inference_steps_.reset();
}

void KDPM2AncestralDiscreteScheduler::set_timesteps(int64_t n) {
  const detail::KDPM2BaseSchedule base = detail::kdpm2_base_schedule(config_, train_sigmas_, log_sigmas_, n);
  const std::vector<float>& sigmas = base.sigmas;
  const size_t count = sigmas.size();
  // the ancestral split of each step (k-diffusion get_ancestral_step, eta = 1), element-wise in float32:
  // sigma_up = sqrt(next^2 (sigma^2 - next^2) / sigma^2), sigma_down = sqrt(next^2 - up^2), down[-1] = 0
  std::vector<float> up(count), down(count), interpol(count);
  for (size_t i = 0; i < count; ++i) {
    const float s = sigmas[i], next = i + 1 < count ? sigmas[i + 1] : 0.0f;
    up[i] = torch_sqrt(next * next * (s * s - next * next) / (s * s));
    down[i] = i + 1 < count ? torch_sqrt(next * next - up[i] * up[i]) : 0.0f;
    // the midpoint between the step's sigma and sigma_down; the last two are 0
    interpol[i] = i + 2 < count ? detail::log_midpoint(s, down[i]) : 0.0f;
  }
  // timesteps: t0, then (t of midpoint i - 1, t_i) for i = 1 .. n - 1
  std::vector<float> timesteps = {base.timesteps.front()};
  for (size_t i = 1; i < base.timesteps.size(); ++i) {
    timesteps.push_back(static_cast<float>(sigma_to_t(interpol[i - 1], log_sigmas_)));
    timesteps.push_back(base.timesteps[i]);
  }
  stepper_.reset(std::move(timesteps), detail::repeat_interleave_inner(sigmas));
  sigmas_interpol_ = detail::repeat_interleave_inner(interpol);
  sigmas_up_ = detail::repeat_interleave_inner(up);
  sigmas_down_ = detail::repeat_interleave_inner(down);
  num_inference_steps_ = n;
  has_sample_ = false;
}

float KDPM2AncestralDiscreteScheduler::model_input_sigma(double timestep) {
  const int64_t index = stepper_.current_index(timestep);
  return state_in_first_order() ? stepper_.sigmas()[index] : sigmas_interpol_[index - 1];
}

template <typename T>
void KDPM2AncestralDiscreteScheduler::step(const T* model_output, double timestep, const T* sample,
                                           const Shape& shape, const T* noise, Generator* generator, T* prev_sample,
                                           T* pred_original_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n) ||
      buffers_overlap(pred_original_sample, sample, n) || buffers_overlap(pred_original_sample, model_output, n) ||
      buffers_overlap(prev_sample, pred_original_sample, n)) {
    throw ArgumentError(
        "KDPM2AncestralDiscreteScheduler.step: output buffers must not overlap the inputs or each other");
  }
  if (noise && generator) throw ArgumentError("Cannot pass both generator and noise: make sure that either stays None");
  const bool first = state_in_first_order();
  if (!first && !noise && !generator) {
    throw ArgumentError("the ancestral step needs noise or a generator to draw it from");
  }
  const int64_t index = stepper_.current_index(timestep);
  const int64_t at = first ? index : index - 1;
  const float sigma = stepper_.sigmas()[at];  // sigma_hat (gamma = 0)
  const float sigma_interpol = sigmas_interpol_[at];
  // Euler to the midpoint, then DPM-Solver-2 to sigma_down
  detail::kdpm2_half_step(first, config_.prediction_type, sigma, sigma_interpol,
                          first ? sigma_interpol - sigma : sigmas_down_[at] - sigma, model_output, sample, n,
                          first_sample_, prev_sample, pred_original_sample, "KDPM2AncestralDiscreteScheduler");
  if (!first) {
    // noise of standard deviation sigma_up
    std::vector<T> drawn;
    if (!noise) {
      drawn.resize(static_cast<size_t>(n));
      generator->randn(drawn.data(), n);
      noise = drawn.data();
    }
    const auto up = static_cast<T>(sigmas_up_[at]);
    for (int64_t i = 0; i < n; ++i) prev_sample[i] = prev_sample[i] + noise[i] * up;
  }
  has_sample_ = first;
  stepper_.advance();
}

template void KDPM2AncestralDiscreteScheduler::step<float>(const float*, double, const float*, const Shape&,
                                                           const float*, Generator*, float*, float*);
template void KDPM2AncestralDiscreteScheduler::step<double>(const double*, double, const double*, const Shape&,
                                                            const double*, Generator*, double*, double*);

}  // namespace ortdiffusion
