// ortdiffusion._native.DPMSolverSinglestepScheduler for the Python facade
// (python/ortdiffusion/schedulers/scheduling_dpmsolver_singlestep.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/scheduling_dpmsolver_singlestep.hpp"
#include "scheduler_bindings.hpp"
#include "sigma_scheduler_binding.hpp"

namespace ortdiffusion::bindings {

void bind_dpmsolver_singlestep(py::module_& m) {
  using Scheduler = od::DPMSolverSinglestepScheduler;
  m.def("dpmsolver_singlestep_config_keys", [] { return od::DPMSolverSinglestepConfig::keys(); },
        "The config keys DPMSolverSinglestepScheduler understands.");
  const auto parse = [](const std::string& text, const std::string& source) {
    return od::parse_dpmsolver_singlestep_config(text, source);
  };
  const auto dump = [](const od::DPMSolverSinglestepConfig& c) { return od::to_json(c); };
  bind_sigma_scheduler<Scheduler>(m, "DPMSolverSinglestepScheduler", parse, dump, /*variance_preserving=*/true)
      .def("set_timesteps_from", &Scheduler::set_timesteps_from, py::arg("timesteps"))
      .def_property_readonly("order_list", [](const Scheduler& s) { return s.order_list(); })
      .def("get_order_list", [](const Scheduler& s, int64_t n) { return s.order_list(n); }, py::arg("num_inference_steps"))
      .def_property_readonly("lower_order_final", [](const Scheduler& s) { return s.config().lower_order_final; })
      .def(
          "step",
          [](Scheduler& s, const py::array& model_output, double timestep, const py::array& sample,
             const py::object& noise, od::Generator* generator) -> py::array {
            require_same_shape(model_output, "model_output", sample, "sample");
            auto run = [&](auto tag) -> py::array {
              using T = decltype(tag);
              const od::Shape shape = shape_of(sample);
              const T* noise_data = optional_noise<T>(noise, sample);
              py::array_t<T> prev(shape);
              s.step<T>(data_of<T>(model_output, "model_output"), timestep, data_of<T>(sample, "sample"), shape,
                        noise_data, generator, prev.mutable_data());
              return std::move(prev);
            };
            if (sample.dtype().equal(py::dtype::of<double>())) return run(double{});
            return run(float{});
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("noise") = py::none(),
          py::arg("generator") = nullptr, "One singlestep update; returns prev_sample.");
}

}  // namespace ortdiffusion::bindings
