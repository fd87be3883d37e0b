// ortdiffusion._native.LMSDiscreteScheduler for the Python facade
// (python/ortdiffusion/schedulers/scheduling_lms_discrete.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/scheduling_lms_discrete.hpp"
#include "scheduler_bindings.hpp"
#include "sigma_scheduler_binding.hpp"

namespace ortdiffusion::bindings {

void bind_lms(py::module_& m) {
  m.def("lms_config_keys", [] { return od::LMSConfig::keys(); }, "The config keys LMSDiscreteScheduler understands.");
  const auto parse = [](const std::string& text, const std::string& source) { return od::parse_lms_config(text, source); };
  const auto dump = [](const od::LMSConfig& c) { return od::to_json(c); };
  bind_sigma_scheduler<od::LMSDiscreteScheduler>(m, "LMSDiscreteScheduler", parse, dump)
      .def_property_readonly("num_derivatives", &od::LMSDiscreteScheduler::num_derivatives)
      .def("get_lms_coefficient", &od::LMSDiscreteScheduler::lms_coefficient, py::arg("order"), py::arg("t"),
           py::arg("current_order"))
      .def(
          "step",
          [](od::LMSDiscreteScheduler& s, const py::array& model_output, double timestep, const py::array& sample,
             int64_t order) {
            auto run = [&](auto tag) {
              using T = decltype(tag);
              return run_step<T>(model_output, sample, [&](const T* mo, const T* x, const od::Shape& shape, T* prev, T* x0) {
                s.step<T>(mo, timestep, x, shape, order, prev, x0);
              });
            };
            if (sample.dtype().equal(py::dtype::of<double>())) return run(double{});
            return run(float{});
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("order") = 4,
          "One linear multistep step; returns (prev_sample, pred_original_sample).");
}

}  // namespace ortdiffusion::bindings
