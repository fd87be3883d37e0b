// Private to the bindings: numpy arrays <-> the core's pointers and shapes, shared by the binding files.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/forward_process.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion::bindings {

namespace py = pybind11;
namespace od = ortdiffusion;

// Timesteps as the bindings take them: any integer sequence, converted to contiguous int64.
using Timesteps = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

inline od::Shape shape_of(const py::array& a) { return od::Shape(a.shape(), a.shape() + a.ndim()); }

template <typename T>
inline bool is_contiguous_of(const py::array& a) {
  return py::isinstance<py::array_t<T>>(a) && (a.flags() & py::array::c_style);
}

// The facade hands us C-contiguous float32/float64 arrays; anything else is a caller bug.
template <typename T>
inline const T* data_of(const py::array& a, const char* name) {
  if (!is_contiguous_of<T>(a)) {
    throw py::type_error(std::string(name) + " must be a C-contiguous " + py::str(py::dtype::of<T>()).cast<std::string>() +
                         " array, got dtype " + py::str(a.dtype()).cast<std::string>());
  }
  return static_cast<const T*>(a.data());
}

inline void require_same_shape(const py::array& a, const char* a_name, const py::array& b, const char* b_name) {
  if (shape_of(a) != shape_of(b)) {
    throw od::ArgumentError(std::string(a_name) + " has shape " + od::shape_to_string(shape_of(a)) + " but " +
                            b_name + " has shape " + od::shape_to_string(shape_of(b)) + "; they must match");
  }
}

// True when the byte ranges of a and b overlap (writing one would change what the step reads of the other).
inline bool overlaps(const py::array& a, const py::array& b) {
  const auto* a0 = static_cast<const char*>(a.data());
  const auto* b0 = static_cast<const char*>(b.data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

template <typename T>
inline py::array vector_to_array(const std::vector<T>& v) {
  py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return std::move(out);
}

// The prev_sample a step writes into: `out` when given (a C-contiguous writeable T array of the sample's
// shape sharing no memory with the step's inputs: ArgumentError naming what is wrong), else a new array.
template <typename T>
inline py::array prev_sample_buffer(const py::object& out, const py::array& sample, const py::array& model_output) {
  if (out.is_none()) return py::array_t<T>(shape_of(sample));
  py::array prev = out.cast<py::array>();
  data_of<T>(prev, "prev_sample");
  require_same_shape(prev, "prev_sample", sample, "sample");
  if (!prev.writeable()) throw od::ArgumentError("prev_sample must be a writeable array");
  if (overlaps(prev, sample) || overlaps(prev, model_output)) {
    throw od::ArgumentError("prev_sample shares memory with model_output or sample; pass a separate buffer");
  }
  return prev;
}

// add_noise of the alpha_bar-based schedulers (forward_process.hpp) on numpy arrays, float32 or float64 by
// the first array's dtype.
inline py::array add_noise_by_alphas(const std::vector<float>& alphas_cumprod, const py::array& original,
                                     const py::array& noise, const Timesteps& t) {
  require_same_shape(original, "original_samples", noise, "noise");
  const od::Shape shape = shape_of(original);
  const auto count = static_cast<int64_t>(t.size());
  if (original.dtype().equal(py::dtype::of<double>())) {
    py::array_t<double> out(shape);
    od::add_noise<double>(alphas_cumprod, data_of<double>(original, "original_samples"), data_of<double>(noise, "noise"),
                          shape, t.data(), count, out.mutable_data());
    return std::move(out);
  }
  py::array_t<float> out(shape);
  od::add_noise<float>(alphas_cumprod, data_of<float>(original, "original_samples"), data_of<float>(noise, "noise"),
                       shape, t.data(), count, out.mutable_data());
  return std::move(out);
}

}  // namespace ortdiffusion::bindings
