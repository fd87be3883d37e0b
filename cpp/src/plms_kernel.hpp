// Private: PNDMScheduler's linear multistep update as one element pass, built with GCC target_clones like
// ddim_step_kernel.hpp (AVX-512, AVX2 or SSE2 chosen at load time): the combination of this step's model output
// with up to three earlier ones (diffusers' step_plms), the copy of the output the history keeps, and
// _get_prev_sample's formula (9), in diffusers' rounded operations and order; the division by formula (9)'s
// denominator and by 2 or 12 through InvariantDivisor (exact bits), no FMA formed, so every clone gives the same
// bits.
#pragma once

#include <cstdint>

namespace ortdiffusion::detail {

template <typename T>
struct PlmsUpdate {
  const T* model_output;
  const T* sample;
  const T* older[3];  // ets[-1], ets[-2], ets[-3] before model_output joins them (order - 1 of them are read)
  int order;          // outputs combined: 1 (model_output as it is), 2, 3 or 4
  T* keep;            // receives a copy of model_output (the history's new slot); null: none
  T sample_coeff, difference, denom;  // formula (9): out = sample_coeff x - difference c / denom
  int64_t n;
  T* out;
};

void plms_update(const PlmsUpdate<float>& u);
void plms_update(const PlmsUpdate<double>& u);

}  // namespace ortdiffusion::detail
