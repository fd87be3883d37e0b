// Private: the element-wise part of DDIMScheduler::step (steps 3, 4 (clipping), 6 and 7 of diffusers'
// step()) as one fused loop per case. Built with GCC target_clones, so the same source runs with
// AVX-512, AVX2 or baseline SSE2 vectors chosen at load time (Eigen fixes its vector width at compile
// time, which would tie a portable wheel to SSE2). Every case does the same rounded operations in the
// same order as diffusers; no FMA is formed (-ffp-contract=off), so all clones give identical bits.
#pragma once

#include <cstdint>

#include "ortdiffusion/ddim_config.hpp"

namespace ortdiffusion::detail {

enum class StepPhase {
  Fused,       // x_0 (clipped if asked) and x_{t-1} in one pass
  X0Only,      // x_0 only (thresholding comes next, over whole batch items)
  PrevFromX0,  // x_{t-1} from the x_0 already in pred_original_sample
};

template <typename T>
struct StepKernelArgs {
  const T* model_output;
  const T* sample;
  const T* noise;  // null: no variance term
  T* pred_original_sample;
  T* prev_sample;
  int64_t n;
  PredictionType prediction_type;
  StepPhase phase;
  bool clip;  // clamp x_0 to [clip_lo, clip_hi]
  bool use_clipped_model_output;
  T sqrt_alpha_prod_t, sqrt_beta_prod_t, sqrt_alpha_prod_t_prev, direction_coefficient, std_dev_t;
  T clip_lo, clip_hi;
};

void ddim_step_elementwise(const StepKernelArgs<float>& args);
void ddim_step_elementwise(const StepKernelArgs<double>& args);

}  // namespace ortdiffusion::detail
