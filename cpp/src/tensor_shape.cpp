// Shape helpers (tensor_shape.hpp).
#include "ortdiffusion/tensor_shape.hpp"

#include <functional>

#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw ArgumentError("invalid tensor shape " + shape_to_string(shape) + ": negative dimension");
    n *= d;
  }
  return n;
}

template <typename T>
bool buffers_overlap(const T* a, const T* b, int64_t n) {
  return n > 0 && std::less<const T*>()(a, b + n) && std::less<const T*>()(b, a + n);
}

template bool buffers_overlap<float>(const float*, const float*, int64_t);
template bool buffers_overlap<double>(const double*, const double*, int64_t);

}  // namespace ortdiffusion
