// ortdiffusion._native.DPMSolverMultistepScheduler for the Python facade
// (python/ortdiffusion/schedulers/scheduling_dpmsolver_multistep.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/dpmsolver_config.hpp"
#include "ortdiffusion/scheduling_dpmsolver_multistep.hpp"
#include "scheduler_bindings.hpp"
#include "sigma_scheduler_binding.hpp"

namespace ortdiffusion::bindings {

void bind_dpmsolver(py::module_& m) {
  m.def("dpmsolver_config_keys", [] { return od::DPMSolverConfig::keys(); },
        "The config keys DPMSolverMultistepScheduler understands.");
  const auto parse = [](const std::string& text, const std::string& source) {
    return od::parse_dpmsolver_config(text, source);
  };
  const auto dump = [](const od::DPMSolverConfig& c) { return od::to_json(c); };
  bind_sigma_scheduler<od::DPMSolverMultistepScheduler>(m, "DPMSolverMultistepScheduler", parse, dump,
                                                        /*variance_preserving=*/true)
      .def("set_timesteps_from", &od::DPMSolverMultistepScheduler::set_timesteps_from, py::arg("timesteps"))
      .def_property_readonly("lower_order_nums", &od::DPMSolverMultistepScheduler::lower_order_nums)
      .def(
          "step",
          [](od::DPMSolverMultistepScheduler& s, const py::array& model_output, double timestep, const py::array& sample,
             const py::object& noise, od::Generator* generator, const py::object& out) -> py::array {
            require_same_shape(model_output, "model_output", sample, "sample");
            const float* noise_data = nullptr;
            py::array noise_array;
            if (!noise.is_none()) {
              noise_array = noise.cast<py::array>();
              require_same_shape(noise_array, "variance_noise", sample, "sample");
              noise_data = data_of<float>(noise_array, "variance_noise");
            }
            auto run = [&](auto tag) -> py::array {
              using T = decltype(tag);
              const od::Shape shape = shape_of(sample);
              py::array prev = prev_sample_buffer<T>(out, sample, model_output);
              s.step<T>(data_of<T>(model_output, "model_output"), timestep, data_of<T>(sample, "sample"), shape,
                        noise_data, generator, static_cast<T*>(prev.mutable_data()));
              return prev;
            };
            if (sample.dtype().equal(py::dtype::of<double>())) return run(double{});
            return run(float{});
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("variance_noise") = py::none(),
          py::arg("generator") = nullptr, py::arg("prev_sample") = py::none(),
          "One multistep update; returns prev_sample (written into `prev_sample` when given).");
}

}  // namespace ortdiffusion::bindings
