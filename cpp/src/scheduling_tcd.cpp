// Mirrors diffusers.schedulers.scheduling_tcd.TCDScheduler (__init__, set_timesteps, step). Scalars are
// float32 like diffusers' 0-d tensors.
#include "ortdiffusion/scheduling_tcd.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "ortdiffusion/consistency_timesteps.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/forward_process.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

TCDScheduler::TCDScheduler(TCDConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps,
                      config_.trained_betas ? &*config_.trained_betas : nullptr, config_.rescale_betas_zero_snr);
  alphas_cumprod_ = alphas_cumprod_from_betas(betas_);
  final_alpha_cumprod_ = config_.set_alpha_to_one ? 1.0f : alphas_cumprod_.front();
  for (int64_t t = config_.num_train_timesteps - 1; t >= 0; --t) timesteps_.push_back(t);
}

void TCDScheduler::set_timesteps(int64_t n, int64_t original_inference_steps, double strength) {
  const int64_t T = config_.num_train_timesteps;
  const bool given = original_inference_steps > 0;
  const int64_t original = given ? original_inference_steps : config_.original_inference_steps;
  timesteps_ = pick_consistency_timesteps(distillation_timesteps(T, original, strength, given), n, T, original, strength);
  num_inference_steps_ = n;
  step_index_.reset();
  begin_index_.reset();
}

void TCDScheduler::set_timesteps_from(const std::vector<int64_t>& timesteps, double strength) {
  timesteps_ = custom_consistency_timesteps(timesteps, config_.num_train_timesteps, strength);
  num_inference_steps_ = static_cast<int64_t>(timesteps.size());
  step_index_.reset();
  begin_index_.reset();
}

int64_t TCDScheduler::init_step_index(int64_t timestep) {
  if (step_index_) return *step_index_;
  if (begin_index_) return *begin_index_;
  return index_in_schedule(timesteps_, timestep);
}

bool TCDScheduler::step_draws_noise(int64_t timestep, double eta) {
  if (!num_inference_steps_) return false;
  return eta > 0.0 && init_step_index(timestep) != *num_inference_steps_ - 1;
}

template <typename T>
void TCDScheduler::step(const T* model_output, int64_t timestep, const T* sample, const Shape& shape, double eta,
                        const T* noise, Generator* generator, T* prev_sample, T* pred_noised_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n) ||
      buffers_overlap(pred_noised_sample, sample, n) || buffers_overlap(pred_noised_sample, model_output, n) ||
      buffers_overlap(prev_sample, pred_noised_sample, n)) {
    throw ArgumentError("TCDScheduler.step: output buffers must not overlap the inputs or each other");
  }
  if (!num_inference_steps_) {
    throw ArgumentError("Number of inference steps is not set: call set_timesteps(n) before step()");
  }
  if (!(eta >= 0.0 && eta <= 1.0)) {
    throw ArgumentError("eta (gamma) must be between 0 and 1, got " + std::to_string(eta));
  }
  step_index_ = init_step_index(timestep);
  check_timestep(alphas_cumprod_, timestep, "timestep");
  const int64_t index = *step_index_;
  const bool draws = eta > 0.0 && index != *num_inference_steps_ - 1;
  if (draws && !noise && !generator) throw ArgumentError("TCDScheduler.step needs noise or a generator");
  // 1. the previous timestep and the earlier timestep s on the trajectory: floor((1 - eta) * t_prev) in float32
  const int64_t prev_timestep = index + 1 < static_cast<int64_t>(timesteps_.size()) ? timesteps_[index + 1] : 0;
  const auto timestep_s =
      static_cast<int64_t>(std::floor(static_cast<float>(1.0 - eta) * static_cast<float>(prev_timestep)));
  check_timestep(alphas_cumprod_, timestep_s, "timestep_s");
  // 2. alphas, betas
  const float alpha_prod_t = alphas_cumprod_[timestep];
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const float alpha_prod_t_prev = prev_timestep >= 0 ? alphas_cumprod_[prev_timestep] : final_alpha_cumprod_;
  const float alpha_prod_s = alphas_cumprod_[timestep_s];
  const float beta_prod_s = 1.0f - alpha_prod_s;
  // 3. x_0 and epsilon from the model output, then x_s = sqrt(alpha_s) x_0 + sqrt(beta_s) epsilon
  const auto sa = static_cast<T>(torch_sqrt(alpha_prod_t)), sb = static_cast<T>(torch_sqrt(beta_prod_t));
  const auto ss = static_cast<T>(torch_sqrt(alpha_prod_s)), sbs = static_cast<T>(torch_sqrt(beta_prod_s));
  for (int64_t i = 0; i < n; ++i) {
    T x0, eps;
    switch (config_.prediction_type) {
      case PredictionType::Epsilon:
        x0 = (sample[i] - sb * model_output[i]) / sa;
        eps = model_output[i];
        break;
      case PredictionType::Sample:
        x0 = model_output[i];
        eps = (sample[i] - sa * x0) / sb;
        break;
      case PredictionType::VPrediction:
      default:
        x0 = sa * sample[i] - sb * model_output[i];
        eps = sa * model_output[i] + sb * sample[i];
        break;
    }
    pred_noised_sample[i] = ss * x0 + sbs * eps;
  }
  // 4. noise forward from s to t_prev (strategic stochastic sampling), except at the last step or eta = 0
  if (!draws) {
    std::copy(pred_noised_sample, pred_noised_sample + n, prev_sample);
  } else {
    std::vector<T> drawn;
    if (!noise) {
      drawn.resize(static_cast<size_t>(n));
      generator->randn(drawn.data(), n);
      noise = drawn.data();
    }
    const float ratio = alpha_prod_t_prev / alpha_prod_s;
    const auto keep = static_cast<T>(torch_sqrt(ratio)), add = static_cast<T>(torch_sqrt(1.0f - ratio));
    for (int64_t i = 0; i < n; ++i) prev_sample[i] = keep * pred_noised_sample[i] + add * noise[i];
  }
  ++*step_index_;
}

template void TCDScheduler::step<float>(const float*, int64_t, const float*, const Shape&, double, const float*,
                                        Generator*, float*, float*);
template void TCDScheduler::step<double>(const double*, int64_t, const double*, const Shape&, double, const double*,
                                         Generator*, double*, double*);

}  // namespace ortdiffusion
