// See ddim_step_kernel.hpp. The formulas are diffusers' DDIMScheduler.step (Song et al. 2020, eq. 12):
//   x_0     = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)       epsilon prediction
//           = model_output                                sample prediction
//           = sqrt(a_t) x_t - sqrt(1 - a_t) v             v prediction
//   eps     = model_output | (x_t - sqrt(a_t) x_0) / sqrt(1 - a_t) | sqrt(a_t) v + sqrt(1 - a_t) x_t
//   x_{t-1} = sqrt(a_{t-1}) x_0 + sqrt(1 - a_{t-1} - sigma_t^2) eps  [+ sigma_t z]
#include "ddim_step_kernel.hpp"

#include <algorithm>
#include <type_traits>

#include "cpu_clones.hpp"
#include "invariant_divisor.hpp"

namespace ortdiffusion::detail {
namespace {

template <typename T, PredictionType P, StepPhase Phase, bool Clip, bool UseClipped, bool Noise>
ORTDIFFUSION_INLINE void step_loop(const StepKernelArgs<T>& k) {
  const T sa = k.sqrt_alpha_prod_t, sb = k.sqrt_beta_prod_t;
  const T sap = k.sqrt_alpha_prod_t_prev, dir = k.direction_coefficient, sd = k.std_dev_t;
  const T* __restrict mo = k.model_output;
  const T* __restrict xt = k.sample;
  const T* __restrict z = k.noise;
  T* __restrict x0_out = k.pred_original_sample;
  T* __restrict prev_out = k.prev_sample;
  // x / sqrt(a_t) and x / sqrt(1 - a_t) with the divisions' exact bits, at a multiplication's cost
  const InvariantDivisor<T> by_sa(sa), by_sb(sb);
  for (int64_t i = 0; i < k.n; ++i) {
    // 3. compute predicted original sample ("predicted x_0" of formula (12))
    T x0;
    if constexpr (Phase == StepPhase::PrevFromX0) {
      x0 = x0_out[i];
    } else {
      if constexpr (P == PredictionType::Epsilon) x0 = by_sa.divide(xt[i] - sb * mo[i]);
      if constexpr (P == PredictionType::Sample) x0 = mo[i];
      if constexpr (P == PredictionType::VPrediction) x0 = sa * xt[i] - sb * mo[i];
      // 4. clip "predicted x_0" (torch.clamp: min(max(x, lo), hi), NaN passes through)
      if constexpr (Clip) x0 = std::min(std::max(x0, k.clip_lo), k.clip_hi);
      x0_out[i] = x0;
    }
    if constexpr (Phase != StepPhase::X0Only) {
      // pred_epsilon: the model's, or re-derived as diffusers does
      T eps;
      if constexpr (UseClipped) {
        eps = by_sb.divide(xt[i] - sa * x0);  // from the clipped x_0 (Glide)
      } else if constexpr (P == PredictionType::Epsilon) {
        eps = mo[i];
      } else if constexpr (P == PredictionType::Sample) {
        eps = by_sb.divide(xt[i] - sa * mo[i]);  // from the unclipped x_0 = model_output
      } else {
        eps = sa * mo[i] + sb * xt[i];
      }
      // 6./7. "direction pointing to x_t" and x_{t-1} without, then with, the random noise
      T prev = sap * x0 + dir * eps;
      if constexpr (Noise) prev = prev + sd * z[i];
      prev_out[i] = prev;
    }
  }
}

// Runtime flags -> template arguments, one branch at a time.
template <typename T, PredictionType P, StepPhase Phase, bool Clip, bool UseClipped>
ORTDIFFUSION_INLINE void pick_noise(const StepKernelArgs<T>& k) {
  if (k.noise) step_loop<T, P, Phase, Clip, UseClipped, true>(k);
  else step_loop<T, P, Phase, Clip, UseClipped, false>(k);
}

template <typename T, PredictionType P, StepPhase Phase>
ORTDIFFUSION_INLINE void pick_flags(const StepKernelArgs<T>& k) {
  if constexpr (Phase == StepPhase::X0Only) {
    step_loop<T, P, Phase, false, false, false>(k);  // thresholding replaces clipping
  } else if constexpr (Phase == StepPhase::PrevFromX0) {
    if (k.use_clipped_model_output) pick_noise<T, P, Phase, false, true>(k);
    else pick_noise<T, P, Phase, false, false>(k);
  } else if (k.clip) {
    if (k.use_clipped_model_output) pick_noise<T, P, Phase, true, true>(k);
    else pick_noise<T, P, Phase, true, false>(k);
  } else {
    if (k.use_clipped_model_output) pick_noise<T, P, Phase, false, true>(k);
    else pick_noise<T, P, Phase, false, false>(k);
  }
}

template <typename T, PredictionType P>
ORTDIFFUSION_INLINE void pick_phase(const StepKernelArgs<T>& k) {
  switch (k.phase) {
    case StepPhase::Fused: pick_flags<T, P, StepPhase::Fused>(k); break;
    case StepPhase::X0Only: pick_flags<T, P, StepPhase::X0Only>(k); break;
    case StepPhase::PrevFromX0: pick_flags<T, P, StepPhase::PrevFromX0>(k); break;
  }
}

template <typename T>
ORTDIFFUSION_INLINE void dispatch(const StepKernelArgs<T>& k) {
  switch (k.prediction_type) {
    case PredictionType::Epsilon: pick_phase<T, PredictionType::Epsilon>(k); break;
    case PredictionType::Sample: pick_phase<T, PredictionType::Sample>(k); break;
    case PredictionType::VPrediction: pick_phase<T, PredictionType::VPrediction>(k); break;
  }
}

}  // namespace

ORTDIFFUSION_CLONES void ddim_step_elementwise(const StepKernelArgs<float>& args) { dispatch(args); }
ORTDIFFUSION_CLONES void ddim_step_elementwise(const StepKernelArgs<double>& args) { dispatch(args); }

}  // namespace ortdiffusion::detail
