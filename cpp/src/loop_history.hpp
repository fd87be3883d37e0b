// Private: what every multistep scheduler checks before it reuses the history of its loop (PNDM, DPM-Solver,
// UniPC keep earlier model outputs between steps): one dtype and one sample size from the first step of a
// loop until set_timesteps starts the next one.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion::detail {

// Checks a step on `shape` in T against the loop's recorded dtype (`dtype_bytes`, 0 before the first step)
// and element count (`loop_numel`, -1 before the first step), raising ArgumentError that names `what`; then
// records both. Returns the step's element count.
template <typename T>
int64_t enter_loop_step(int& dtype_bytes, int64_t& loop_numel, const Shape& shape, const std::string& what) {
  if (dtype_bytes != 0 && dtype_bytes != static_cast<int>(sizeof(T))) {
    throw ArgumentError(what + ": this loop started with float" + std::to_string(8 * dtype_bytes) +
                        " tensors and got float" + std::to_string(8 * sizeof(T)) +
                        "; keep one dtype per loop or call set_timesteps again");
  }
  const int64_t n = shape_numel(shape);
  if (loop_numel >= 0 && loop_numel != n) {
    throw ArgumentError(what + ": the sample has " + std::to_string(n) + " elements (shape " + shape_to_string(shape) +
                        ") but earlier steps of this loop had " + std::to_string(loop_numel) +
                        "; call set_timesteps to start a new loop");
  }
  dtype_bytes = static_cast<int>(sizeof(T));
  loop_numel = n;
  return n;
}

// The float32 or float64 member of a pair of histories.
template <typename T, typename F32, typename F64>
auto& history_of(F32& f32, F64& f64) {
  if constexpr (std::is_same_v<T, float>) {
    return f32;
  } else {
    return f64;
  }
}

}  // namespace ortdiffusion::detail
