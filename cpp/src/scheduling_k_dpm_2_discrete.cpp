// Mirrors diffusers.schedulers.scheduling_k_dpm_2_discrete.KDPM2DiscreteScheduler (__init__,
// set_timesteps, scale_model_input, step). Scalars in float32 as diffusers' tensors.
#include "ortdiffusion/scheduling_k_dpm_2_discrete.hpp"

#include <string>
#include <tuple>

#include "kdpm2_schedule.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/sigma_schedule.hpp"

namespace ortdiffusion {

KDPM2DiscreteScheduler::KDPM2DiscreteScheduler(KDPM2Config config) : config_(std::move(config)) {
  std::tie(betas_, alphas_cumprod_, train_sigmas_, log_sigmas_) = training_sigma_tables(
      config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps, config_.trained_betas);
  set_timesteps(config_.num_train_timesteps);  // diffusers' __init__ does the same
  num_inference_steps_.reset();
}

void KDPM2DiscreteScheduler::set_timesteps(int64_t n) {
  const detail::KDPM2BaseSchedule base = detail::kdpm2_base_schedule(config_, train_sigmas_, log_sigmas_, n);
  const std::vector<float>& sigmas = base.sigmas;
  // sigmas_interpol = sigmas.log().lerp(sigmas.roll(1).log(), 0.5).exp(): the midpoint with the previous sigma
  std::vector<float> interpol(sigmas.size());
  for (size_t i = 0; i < sigmas.size(); ++i) interpol[i] = detail::log_midpoint(sigmas[i], sigmas[(i + sigmas.size() - 1) % sigmas.size()]);
  // timesteps: t0, then (t of the midpoint i, t_i) for i = 1 .. n - 1
  std::vector<float> timesteps = {base.timesteps.front()};
  for (size_t i = 1; i + 1 < interpol.size(); ++i) {
    timesteps.push_back(static_cast<float>(sigma_to_t(interpol[i], log_sigmas_)));
    timesteps.push_back(base.timesteps[i]);
  }
  stepper_.reset(std::move(timesteps), detail::repeat_interleave_inner(sigmas));
  sigmas_interpol_ = detail::repeat_interleave_inner(interpol);
  num_inference_steps_ = n;
  has_sample_ = false;
}

float KDPM2DiscreteScheduler::model_input_sigma(double timestep) {
  const int64_t index = stepper_.current_index(timestep);
  return state_in_first_order() ? stepper_.sigmas()[index] : sigmas_interpol_[index];
}

template <typename T>
void KDPM2DiscreteScheduler::step(const T* model_output, double timestep, const T* sample, const Shape& shape,
                                  T* prev_sample, T* pred_original_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n) ||
      buffers_overlap(pred_original_sample, sample, n) || buffers_overlap(pred_original_sample, model_output, n) ||
      buffers_overlap(prev_sample, pred_original_sample, n)) {
    throw ArgumentError("KDPM2DiscreteScheduler.step: output buffers must not overlap the inputs or each other");
  }
  const bool first = state_in_first_order();
  const int64_t index = stepper_.current_index(timestep);
  const std::vector<float>& sigmas = stepper_.sigmas();
  const float sigma = first ? sigmas[index] : sigmas[index - 1];  // sigma_hat (gamma = 0)
  const float sigma_interpol = first ? sigmas_interpol_[index + 1] : sigmas_interpol_[index];
  const float sigma_next = first ? sigmas[index + 1] : sigmas[index];
  // Euler to the midpoint, then DPM-Solver-2: the midpoint's derivative over the whole step
  detail::kdpm2_half_step(first, config_.prediction_type, sigma, sigma_interpol,
                          first ? sigma_interpol - sigma : sigma_next - sigma, model_output, sample, n, first_sample_,
                          prev_sample, pred_original_sample, "KDPM2DiscreteScheduler");
  has_sample_ = first;
  stepper_.advance();
}

template void KDPM2DiscreteScheduler::step<float>(const float*, double, const float*, const Shape&, float*, float*);
template void KDPM2DiscreteScheduler::step<double>(const double*, double, const double*, const Shape&, double*, double*);

}  // namespace ortdiffusion
