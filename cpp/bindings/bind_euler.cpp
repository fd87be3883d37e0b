// ortdiffusion._native.EulerDiscreteScheduler and EulerAncestralDiscreteScheduler for the Python facades
// (python/ortdiffusion/schedulers/scheduling_euler_*.py), which handle torch tensors and diffusers' API.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <string>

#include "array_helpers.hpp"
#include "sigma_scheduler_binding.hpp"
#include "ortdiffusion/euler_config.hpp"
#include "ortdiffusion/scheduling_euler_ancestral.hpp"
#include "ortdiffusion/scheduling_euler_discrete.hpp"
#include "scheduler_bindings.hpp"

namespace ortdiffusion::bindings {
namespace {

}  // namespace

void bind_euler(py::module_& m) {
  m.def("euler_config_keys", [](bool ancestral) { return od::EulerConfig::keys(ancestral); }, py::arg("ancestral"),
        "The config keys of EulerDiscreteScheduler (ancestral=False) or EulerAncestralDiscreteScheduler.");

  const auto parse = [](bool ancestral) {
    return [ancestral](const std::string& text, const std::string& source) {
      return od::parse_euler_config(text, source, ancestral);
    };
  };
  const auto dump = [](bool ancestral) { return [ancestral](const od::EulerConfig& c) { return od::to_json(c, ancestral); }; };
  bind_sigma_scheduler<od::EulerDiscreteScheduler>(m, "EulerDiscreteScheduler", parse(false), dump(false))
      .def("set_timesteps_from", &od::EulerDiscreteScheduler::set_timesteps_from, py::arg("timesteps"))
      .def("set_sigmas", &od::EulerDiscreteScheduler::set_sigmas, py::arg("sigmas"))
      .def(
          "step",
          [](od::EulerDiscreteScheduler& s, const py::array& model_output, double timestep, const py::array& sample,
             double s_churn, double s_tmin, double s_tmax, double s_noise, const py::object& noise,
             od::Generator* generator) -> py::tuple {
            auto run = [&](auto tag) {
              using T = decltype(tag);
              od::EulerStepOptions<T> options;
              options.s_churn = s_churn, options.s_tmin = s_tmin, options.s_tmax = s_tmax, options.s_noise = s_noise;
              options.noise = optional_noise<T>(noise, sample);
              options.generator = generator;
              return run_step<T>(model_output, sample, [&](const T* mo, const T* x, const od::Shape& shape, T* prev, T* x0) {
                s.step<T>(mo, timestep, x, shape, options, prev, x0);
              });
            };
            if (sample.dtype().equal(py::dtype::of<double>())) return run(double{});
            return run(float{});
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("s_churn") = 0.0,
          py::arg("s_tmin") = 0.0, py::arg("s_tmax") = std::numeric_limits<double>::infinity(),
          py::arg("s_noise") = 1.0, py::arg("noise") = py::none(), py::arg("generator") = nullptr,
          "One Euler step; returns (prev_sample, pred_original_sample).");

  bind_sigma_scheduler<od::EulerAncestralDiscreteScheduler>(m, "EulerAncestralDiscreteScheduler", parse(true), dump(true))
      .def(
          "step",
          [](od::EulerAncestralDiscreteScheduler& s, const py::array& model_output, double timestep,
             const py::array& sample, const py::object& noise, od::Generator* generator) -> py::tuple {
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
          py::arg("generator") = nullptr, "One ancestral Euler step; returns (prev_sample, pred_original_sample).");
}

}  // namespace ortdiffusion::bindings
