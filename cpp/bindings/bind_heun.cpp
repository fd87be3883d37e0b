// ortdiffusion._native.HeunDiscreteScheduler for the Python facade
// (python/ortdiffusion/schedulers/scheduling_heun_discrete.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/scheduling_heun_discrete.hpp"
#include "scheduler_bindings.hpp"
#include "sigma_scheduler_binding.hpp"

namespace ortdiffusion::bindings {

void bind_heun(py::module_& m) {
  m.def("heun_config_keys", [] { return od::HeunConfig::keys(); }, "The config keys HeunDiscreteScheduler understands.");
  const auto parse = [](const std::string& text, const std::string& source) { return od::parse_heun_config(text, source); };
  const auto dump = [](const od::HeunConfig& c) { return od::to_json(c); };
  bind_sigma_scheduler<od::HeunDiscreteScheduler>(m, "HeunDiscreteScheduler", parse, dump)
      .def("set_timesteps_from", &od::HeunDiscreteScheduler::set_timesteps_from, py::arg("timesteps"))
      .def_property_readonly("state_in_first_order", &od::HeunDiscreteScheduler::state_in_first_order)
      .def(
          "step",
          [](od::HeunDiscreteScheduler& s, const py::array& model_output, double timestep, const py::array& sample) {
            auto run = [&](auto tag) {
              using T = decltype(tag);
              return run_step<T>(model_output, sample, [&](const T* mo, const T* x, const od::Shape& shape, T* prev, T* x0) {
                s.step<T>(mo, timestep, x, shape, prev, x0);
              });
            };
            if (sample.dtype().equal(py::dtype::of<double>())) return run(double{});
            return run(float{});
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"),
          "One Heun call (predictor or corrector); returns (prev_sample, pred_original_sample).");
}

}  // namespace ortdiffusion::bindings
