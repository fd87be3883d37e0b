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

#include <algorithm>

#include "ortdiffusion/prediction_type.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion::detail {

// The predicted x_0 of both KDPM2 steps at noise level `sigma_input`: epsilon x - sigma eps;
// v-prediction v (-sigma / sqrt(sigma^2 + 1)) + x / (sigma^2 + 1) ("sample" is refused by the config).
template <typename T>
void kdpm2_pred_original_sample(PredictionType prediction_type, float sigma_input, const T* model_output,
                                const T* sample, int64_t n, T* out) {
  if (prediction_type == PredictionType::Epsilon) {
    const auto s = static_cast<T>(sigma_input);
    for (int64_t i = 0; i < n; ++i) out[i] = sample[i] - s * model_output[i];
  } else {
    const float denominator = sigma_input * sigma_input + 1.0f;
    const auto c_out = static_cast<T>(-sigma_input / torch_sqrt(denominator));
    const auto c_in = static_cast<T>(denominator);
    for (int64_t i = 0; i < n; ++i) out[i] = model_output[i] * c_out + sample[i] / c_in;
  }
}

}  // namespace ortdiffusion::detail
