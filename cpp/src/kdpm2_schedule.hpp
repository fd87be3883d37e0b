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

