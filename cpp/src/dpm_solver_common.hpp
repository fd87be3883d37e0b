// Private: what DPMSolverMultistepScheduler and DPMSolverSinglestepScheduler share: the training log-SNR table and
// its lambda_min_clipped cut, and diffusers' convert_model_output (the model output as x_0 for dpmsolver++ /
// sde-dpmsolver++, as epsilon for dpmsolver / sde-dpmsolver, thresholded when asked, with alpha_t = 1 /
// sqrt(sigma^2 + 1), sigma_t = sigma alpha_t in float32).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ortdiffusion/dpmsolver_config.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/prediction_type.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/tensor_shape.hpp"
#include "ortdiffusion/thresholding.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"
#include "solver_kernels.hpp"

namespace ortdiffusion::detail {

// lambda_t = log(alpha_t) - log(sigma_t) with alpha_t = sqrt(alphas_cumprod), sigma_t = sqrt(1 - alphas_cumprod),
// by training timestep (diffusers' __init__), in float32.
inline std::vector<float> dpm_lambda_table(const std::vector<float>& alphas_cumprod) {
  std::vector<float> lambda_t(alphas_cumprod.size());
  for (size_t i = 0; i < alphas_cumprod.size(); ++i) {
    lambda_t[i] = std::log(torch_sqrt(alphas_cumprod[i])) - std::log(torch_sqrt(1.0f - alphas_cumprod[i]));
  }
  return lambda_t;
}

// How many of the last training timesteps lambda_min_clipped cuts off (clipping lambda for numerical
// stability): torch.searchsorted(flip(lambda_t), lambda_min_clipped).
inline int64_t dpm_clipped_timesteps(const std::vector<float>& lambda_t, double lambda_min_clipped) {
  int64_t clipped = 0;
  for (auto it = lambda_t.rbegin(); it != lambda_t.rend() && static_cast<double>(*it) < lambda_min_clipped; ++it) {
    ++clipped;
  }
  return clipped;
}

struct DPMOutputConversion {
  bool data_prediction;  // x_0 (the ++ algorithms) rather than epsilon
  PredictionType prediction_type;
  bool thresholding;
  double dynamic_thresholding_ratio;
  double sample_max_value;
};

// The conversion a DPM-Solver config asks for (any config with algorithm_type, prediction_type and the
// thresholding keys).
template <typename Config>
DPMOutputConversion dpm_output_conversion(const Config& c) {
  const bool data_prediction =
      c.algorithm_type == DPMAlgorithm::DPMSolverPP || c.algorithm_type == DPMAlgorithm::SDEDPMSolverPP;
  return {data_prediction, c.prediction_type, c.thresholding, c.dynamic_thresholding_ratio, c.sample_max_value};
}

template <typename T>
void dpm_convert_model_output(const DPMOutputConversion& c, const T* mo, const T* x, const Shape& shape, float sigma,
                              T* out) {
  const int64_t n = shape_numel(shape);
  const VPCoefficients s = vp_coefficients(sigma);
  const auto a = static_cast<T>(s.alpha), sg = static_cast<T>(s.sigma);
  auto threshold = [&](T* x0) {
    if (shape.size() < 2) throw ArgumentError("thresholding needs a sample of at least 2 dimensions (batch, ...)");
    threshold_sample(x0, shape[0], shape[0] == 0 ? 0 : n / shape[0], c.dynamic_thresholding_ratio, c.sample_max_value);
  };
  if (c.data_prediction) {
    switch (c.prediction_type) {
      case PredictionType::Epsilon:  // x0 = (sample - sigma_t * model_output) / alpha_t
        scaled_difference_quotient(x, mo, n, sg, a, out);
        break;
      case PredictionType::Sample:
        std::copy(mo, mo + n, out);
        break;
      case PredictionType::VPrediction:  // x0 = alpha_t * sample - sigma_t * model_output
        for (int64_t i = 0; i < n; ++i) out[i] = a * x[i] - sg * mo[i];
        break;
    }
    if (c.thresholding) threshold(out);
    return;
  }
  switch (c.prediction_type) {  // epsilon prediction
    case PredictionType::Epsilon:
      std::copy(mo, mo + n, out);
      break;
    case PredictionType::Sample:  // (sample - alpha_t * model_output) / sigma_t
      scaled_difference_quotient(x, mo, n, a, sg, out);
      break;
    case PredictionType::VPrediction:  // alpha_t * model_output + sigma_t * sample
      for (int64_t i = 0; i < n; ++i) out[i] = a * mo[i] + sg * x[i];
      break;
  }
  if (c.thresholding) {  // through x_0 and back (multistep's dpmsolver)
    std::vector<T> x0(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x0[i] = (x[i] - sg * out[i]) / a;
    threshold(x0.data());
    for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - a * x0[i]) / sg;
  }
}

}  // namespace ortdiffusion::detail
