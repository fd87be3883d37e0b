// Dynamic thresholding of a predicted x_0 (Saharia et al. 2022, "Imagen", section 2.3), shared by
// every scheduler that offers `thresholding=True`. Mirrors diffusers'
// DDIMScheduler._threshold_sample, including torch.quantile's linear interpolation.
#pragma once

#include <cstdint>

namespace ortdiffusion {

// In place, per batch item: s = clamp(quantile(|x|, ratio), 1, max_value); x = clamp(x, -s, s) / s.
// `sample` holds `batch` items of `item_size` contiguous values. A NaN in an item makes its s NaN
// (torch.quantile's rule), and so every value of that item.
template <typename T>
void threshold_sample(T* sample, int64_t batch, int64_t item_size, double dynamic_thresholding_ratio,
                      double sample_max_value);

}  // namespace ortdiffusion
