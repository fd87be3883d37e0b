// Private: what KDPM2DiscreteScheduler and KDPM2AncestralDiscreteScheduler share in set_timesteps: the
// timesteps and sigmas before interleaving, the geometric midpoint of two sigmas, and the interleaving
// itself (diffusers' torch.cat([x[:1], x[1:].repeat_interleave(2), x[-1:]])).
#pragma once

#include <cstdint>
#include <vector>

#include "ortdiffusion/kdpm2_config.hpp"

namespace ortdiffusion::detail {

struct KDPM2BaseSchedule {
  std::vector<float> timesteps;  // n, descending
  std::vector<float> sigmas;     // n + 1, the last 0
};

// The spaced float timesteps, their sigmas interpolated from the training sigmas, or Karras (timesteps
// rounded), exponential or beta sigmas with their fractional timesteps (diffusers' set_timesteps up to
// `sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)`).
KDPM2BaseSchedule kdpm2_base_schedule(const KDPM2Config& config, const std::vector<float>& train_sigmas,
                                      const std::vector<float>& log_sigmas, int64_t n);

// exp(log(a).lerp(log(b), 0.5)) in float32 as torch evaluates it: lerp with weight 0.5 is
// end - (end - start) * 0.5 (ATen's lerp for weights >= 0.5); NaN where a log is -inf on both sides.
float log_midpoint(float a, float b);

// x[:1], each of x[1:] twice, x[-1:].
std::vector<float> repeat_interleave_inner(const std::vector<float>& x);

}  // namespace ortdiffusion::detail

#include <string>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/prediction_type.hpp"
#include "sigma_prediction.hpp"

namespace ortdiffusion::detail {

// One call of a KDPM2 step (both classes; diffusers' step from "1. compute predicted original sample"):
// x_0 at sigma (first half) or at the midpoint sigma_interpol (second half), then
// first half: out = x + ((x - x_0) / sigma) dt, keeping x in `first_sample`;
// second half: out = first_sample + ((x - x_0) / sigma_interpol) dt.
// ArgumentError naming `scheduler` when the second half's size differs from the first's.
template <typename T>
void kdpm2_half_step(bool first, PredictionType prediction_type, float sigma, float sigma_interpol, float dt,
                     const T* model_output, const T* sample, int64_t n, std::vector<double>& first_sample,
                     T* prev_sample, T* pred_original_sample, const char* scheduler) {
  if (!first && static_cast<int64_t>(first_sample.size()) != n) {
    throw ArgumentError(std::string(scheduler) + ".step: the second half got " + std::to_string(n) +
                        " elements but the first had " + std::to_string(first_sample.size()));
  }
  const float sigma_input = first ? sigma : sigma_interpol;
  sigma_pred_original_sample(prediction_type, sigma_input, model_output, sample, n, pred_original_sample);
  const auto s = static_cast<T>(sigma_input);
  const auto step = static_cast<T>(dt);
  if (first) {
    first_sample.assign(sample, sample + n);
    for (int64_t i = 0; i < n; ++i) prev_sample[i] = sample[i] + ((sample[i] - pred_original_sample[i]) / s) * step;
  } else {
    for (int64_t i = 0; i < n; ++i) {
      prev_sample[i] = static_cast<T>(first_sample[i]) + ((sample[i] - pred_original_sample[i]) / s) * step;
    }
  }
}

}  // namespace ortdiffusion::detail
