// What the denoising model predicts (diffusers' `prediction_type` config key), shared by every scheduler.
#pragma once

#include <string>

namespace ortdiffusion {

enum class PredictionType { Epsilon, Sample, VPrediction };

// Parse / print the config strings ("epsilon", "sample", "v_prediction"); unknown names raise
// ConfigError listing the accepted ones.
PredictionType parse_prediction_type(const std::string& name);
std::string to_string(PredictionType type);

}  // namespace ortdiffusion
