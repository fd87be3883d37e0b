// diffusers DDIMScheduler._threshold_sample, element for element.
#include "ortdiffusion/thresholding.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace ortdiffusion {
namespace {

// torch.lerp (ATen lerp in Lerp.h): the form depends on whether the weight is below one half.
template <typename T>
T torch_lerp(T start, T end, T weight) {
  return std::abs(weight) < T(0.5) ? start + weight * (end - start) : end - (end - start) * (T(1) - weight);
}

// torch.quantile(values, q, interpolation="linear") over one row; `scratch` is reordered.
template <typename T>
T torch_quantile(std::vector<T>& scratch, T q) {
  const auto n = static_cast<int64_t>(scratch.size());
  for (T v : scratch) {
    if (std::isnan(v)) return std::numeric_limits<T>::quiet_NaN();  // rank -> last index -> NaN
  }
  // ranks = q * last_index (in the sample dtype); below = trunc(ranks), above = ceil(ranks)
  const T rank = q * static_cast<T>(n - 1);
  const auto below = static_cast<int64_t>(rank);
  const auto above = static_cast<int64_t>(std::ceil(rank));
  const T weight = rank - static_cast<T>(below);
  // Two order statistics by selection instead of a full sort: same values as sorted[below/above].
  std::nth_element(scratch.begin(), scratch.begin() + below, scratch.end());
  const T value_below = scratch[below];
  T value_above = value_below;
  if (above != below) value_above = *std::min_element(scratch.begin() + below + 1, scratch.end());
  return torch_lerp(value_below, value_above, weight);
}

}  // namespace

template <typename T>
void threshold_sample(T* sample, int64_t batch, int64_t item_size, double dynamic_thresholding_ratio,
                      double sample_max_value) {
  const T q = static_cast<T>(dynamic_thresholding_ratio);  // torch.quantile makes q a tensor of the dtype
  const T lower = T(1);
  const T upper = static_cast<T>(sample_max_value);
  std::vector<T> scratch(static_cast<size_t>(item_size));
  for (int64_t b = 0; b < batch; ++b) {
    T* item = sample + b * item_size;
    // "a certain percentile absolute pixel value"
    for (int64_t i = 0; i < item_size; ++i) scratch[i] = std::abs(item[i]);
    T s = torch_quantile(scratch, q);
    // torch.clamp(s, min=1, max=sample_max_value): min(max(s, 1), max); NaN propagates
    s = std::min(std::max(s, lower), upper);
    // "we threshold xt0 to the range [-s, s] and then divide by s"
    const T neg_s = -s;
    for (int64_t i = 0; i < item_size; ++i) {
      item[i] = std::isnan(s) ? s : std::min(std::max(item[i], neg_s), s) / s;
    }
  }
}

template void threshold_sample<float>(float*, int64_t, int64_t, double, double);
template void threshold_sample<double>(double*, int64_t, int64_t, double, double);

}  // namespace ortdiffusion
