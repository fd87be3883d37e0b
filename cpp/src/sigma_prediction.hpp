// Private: the predicted x_0 of the sigma-based schedulers' steps (Euler / Heun / KDPM2 / LMS in diffusers:
// "1. compute predicted original sample (x_0) from sigma-scaled predicted noise"), in float32 scalars as
// diffusers' 0-d tensors.
#pragma once

#include <algorithm>
#include <cstdint>

#include "ortdiffusion/prediction_type.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion::detail {

// epsilon: x - sigma eps; v-prediction: v (-sigma / sqrt(sigma^2 + 1)) + x / (sigma^2 + 1); sample: the
// model output itself.
template <typename T>
void sigma_pred_original_sample(PredictionType prediction_type, float sigma, const T* model_output, const T* sample,
                                int64_t n, T* out) {
  switch (prediction_type) {
    case PredictionType::Epsilon: {
      const auto s = static_cast<T>(sigma);
      for (int64_t i = 0; i < n; ++i) out[i] = sample[i] - s * model_output[i];
      break;
    }
    case PredictionType::VPrediction: {
      const float denominator = sigma * sigma + 1.0f;
      const auto c_out = static_cast<T>(-sigma / torch_sqrt(denominator));
      const auto c_in = static_cast<T>(denominator);
      for (int64_t i = 0; i < n; ++i) out[i] = model_output[i] * c_out + sample[i] / c_in;
      break;
    }
    case PredictionType::Sample:
      std::copy(model_output, model_output + n, out);
      break;
  }
}

}  // namespace ortdiffusion::detail
