// ortdiffusion._native.KDPM2DiscreteScheduler and KDPM2AncestralDiscreteScheduler for the Python facades
// (python/ortdiffusion/schedulers/scheduling_k_dpm_2_*.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/kdpm2_config.hpp"
#include "ortdiffusion/scheduling_k_dpm_2_ancestral_discrete.hpp"
#include "ortdiffusion/scheduling_k_dpm_2_discrete.hpp"
#include "scheduler_bindings.hpp"
#include "sigma_scheduler_binding.hpp"

namespace ortdiffusion::bindings {

void bind_kdpm2(py::module_& m) {
  m.def("kdpm2_config_keys", [] { return od::KDPM2Config::keys(); },
        "The config keys KDPM2DiscreteScheduler and KDPM2AncestralDiscreteScheduler understand.");
  const auto parse = [](const char* class_name) {
    return [class_name](const std::string& text, const std::string& source) {
      return od::parse_kdpm2_config(text, source, class_name);
    };
  };
  const auto dump = [](const od::KDPM2Config& c) { return od::to_json(c); };

  bind_sigma_scheduler<od::KDPM2DiscreteScheduler>(m, "KDPM2DiscreteScheduler", parse("KDPM2DiscreteScheduler"), dump)
      .def_property_readonly("state_in_first_order", &od::KDPM2DiscreteScheduler::state_in_first_order)
      .def_property_readonly("sigmas_interpol",
                             [](const od::KDPM2DiscreteScheduler& s) { return vector_to_array(s.sigmas_interpol()); })
      .def(
          "step",
          [](od::KDPM2DiscreteScheduler& s, const py::array& model_output, double timestep, const py::array& sample) {
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
          "One KDPM2 call (first or second half of a step); returns (prev_sample, pred_original_sample).");

  using Ancestral = od::KDPM2AncestralDiscreteScheduler;
  bind_sigma_scheduler<Ancestral>(m, "KDPM2AncestralDiscreteScheduler", parse("KDPM2AncestralDiscreteScheduler"), dump)
      .def_property_readonly("state_in_first_order", &Ancestral::state_in_first_order)
      .def_property_readonly("sigmas_interpol", [](const Ancestral& s) { return vector_to_array(s.sigmas_interpol()); })
      .def_property_readonly("sigmas_up", [](const Ancestral& s) { return vector_to_array(s.sigmas_up()); })
      .def_property_readonly("sigmas_down", [](const Ancestral& s) { return vector_to_array(s.sigmas_down()); })
      .def(
          "step",
          [](Ancestral& s, const py::array& model_output, double timestep, const py::array& sample,
             const py::object& noise, od::Generator* generator) {
            auto run = [&](auto tag) {
              using T = decltype(tag);
              const T* noise_data = optional_noise<T>(noise, sample);
              return run_step<T>(model_output, sample, [&](const T* mo, const T* x, const od::Shape& shape, T* prev, T* x0) {
                s.step<T>(mo, timestep, x, shape, noise_data, generator, prev, x0);
              });
            };
            if (sample.dtype().equal(py::dtype::of<double>())) return run(double{});
            return run(float{});
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("noise") = py::none(),
          py::arg("generator") = nullptr,
          "One KDPM2 ancestral call (the second half adds noise); returns (prev_sample, pred_original_sample).");
}

}  // namespace ortdiffusion::bindings
