// prediction_type strings <-> PredictionType, through one table (enum_table.hpp).
#include "ortdiffusion/prediction_type.hpp"

#include <utility>

#include "enum_table.hpp"

namespace ortdiffusion {
namespace {

const std::pair<const char*, PredictionType> kPredictionTypes[] = {
    {"epsilon", PredictionType::Epsilon},
    {"sample", PredictionType::Sample},
    {"v_prediction", PredictionType::VPrediction},
};

}  // namespace

PredictionType parse_prediction_type(const std::string& name) {
  return detail::parse_enum(kPredictionTypes, name, "prediction_type");
}
std::string to_string(PredictionType type) { return detail::enum_name(kPredictionTypes, type); }

}  // namespace ortdiffusion
