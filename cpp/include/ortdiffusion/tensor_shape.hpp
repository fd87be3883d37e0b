// Tensor shapes as the schedulers take them: contiguous buffers of any rank, batch first.
#pragma once

#include <cstdint>
#include <vector>

namespace ortdiffusion {

using Shape = std::vector<int64_t>;

// Product of the dimensions; raises ArgumentError on a negative dimension.
int64_t shape_numel(const Shape& shape);

// True when [a, a + n) and [b, b + n) share an element.
template <typename T>
bool buffers_overlap(const T* a, const T* b, int64_t n);

}  // namespace ortdiffusion
