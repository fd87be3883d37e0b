// Private to the bindings: what the sigma-based schedulers' bindings share (bind_euler.cpp,
// bind_dpmsolver.cpp): construction from a config JSON, the schedule state, scale_model_input, add_noise.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <type_traits>
#include <utility>

#include "array_helpers.hpp"
#include "ortdiffusion/sigma_stepper.hpp"

namespace ortdiffusion::bindings {

using FloatTimesteps = py::array_t<double, py::array::c_style | py::array::forcecast>;

// An optional noise array of the sample's dtype and shape (None: no noise given).
template <typename T>
inline const T* optional_noise(const py::object& noise, const py::array& sample) {
  if (noise.is_none()) return nullptr;
  const auto array = noise.cast<py::array>();
  require_same_shape(array, "noise", sample, "sample");
  return data_of<T>(array, "noise");
}

template <typename T, typename Step>
inline py::tuple run_step(const py::array& model_output, const py::array& sample, Step step) {
  require_same_shape(model_output, "model_output", sample, "sample");
  const od::Shape shape = shape_of(sample);
  py::array_t<T> prev(shape), x0(shape);
  step(data_of<T>(model_output, "model_output"), data_of<T>(sample, "sample"), shape, prev.mutable_data(),
       x0.mutable_data());
  return py::make_tuple(std::move(prev), std::move(x0));
}

// Whether a scheduler scales the model input by a sigma of its own (model_input_sigma(timestep), as KDPM2's
// midpoints) rather than the step's.
template <typename S, typename = void>
struct has_model_input_sigma : std::false_type {};
template <typename S>
struct has_model_input_sigma<S, std::void_t<decltype(std::declval<S&>().model_input_sigma(0.0))>> : std::true_type {};

template <typename T, typename Scheduler>
void scale_model_input_of(Scheduler& s, const T* sample, int64_t n, double timestep, T* out) {
  if constexpr (has_model_input_sigma<Scheduler>::value) {
    od::SigmaStepper::scale_by_sigma(sample, n, s.model_input_sigma(timestep), out);
  } else {
    s.stepper().scale_model_input(sample, n, timestep, out);
  }
}

// What the sigma schedulers share: construction from JSON (`parse` / `dump` read and write its config),
// schedule state, scale_model_input, add_noise (`variance_preserving`: DPM-Solver's alpha/sigma form).
template <typename Scheduler, typename Parse, typename Dump>
py::class_<Scheduler> bind_sigma_scheduler(py::module_& m, const char* name, Parse parse, Dump dump,
                                           bool variance_preserving = false) {
  py::class_<Scheduler> cls(m, name);
  cls.def(py::init([parse](const std::string& json_text, const std::string& source) {
           return Scheduler(parse(json_text, source));
         }),
         py::arg("config_json"), py::arg("source") = "config")
      .def("config_json", [dump](const Scheduler& s) { return dump(s.config()); })
      .def("set_timesteps", &Scheduler::set_timesteps, py::arg("num_inference_steps"))
      .def_property_readonly("timesteps", [](const Scheduler& s) { return vector_to_array(s.stepper().timesteps()); })
      .def_property_readonly("sigmas", [](const Scheduler& s) { return vector_to_array(s.stepper().sigmas()); })
      .def_property_readonly("num_inference_steps", &Scheduler::num_inference_steps)
      .def_property_readonly("step_index", [](const Scheduler& s) { return s.stepper().step_index(); })
      .def_property_readonly("begin_index", [](const Scheduler& s) { return s.stepper().begin_index(); })
      .def("set_begin_index", [](Scheduler& s, int64_t i) { s.stepper().set_begin_index(i); }, py::arg("begin_index"))
      .def_property_readonly("init_noise_sigma", &Scheduler::init_noise_sigma)
      .def_property_readonly("betas", [](const Scheduler& s) { return vector_to_array(s.betas()); })
      .def_property_readonly("alphas_cumprod", [](const Scheduler& s) { return vector_to_array(s.alphas_cumprod()); })
      .def(
          "scale_model_input",
          [](Scheduler& s, const py::array& sample, double timestep) -> py::array {
            const od::Shape shape = shape_of(sample);
            const int64_t n = od::shape_numel(shape);
            if (sample.dtype().equal(py::dtype::of<double>())) {
              py::array_t<double> out(shape);
              scale_model_input_of(s, data_of<double>(sample, "sample"), n, timestep, out.mutable_data());
              return std::move(out);
            }
            py::array_t<float> out(shape);
            scale_model_input_of(s, data_of<float>(sample, "sample"), n, timestep, out.mutable_data());
            return std::move(out);
          },
          py::arg("sample"), py::arg("timestep"), "sample / sqrt(sigma^2 + 1) for the model input sigma of `timestep`.")
      .def(
          "add_noise",
          [variance_preserving](const Scheduler& s, const py::array& original, const py::array& noise,
                                const FloatTimesteps& t) -> py::array {
            require_same_shape(original, "original_samples", noise, "noise");
            const od::Shape shape = shape_of(original);
            const auto count = static_cast<int64_t>(t.size());
            if (original.dtype().equal(py::dtype::of<double>())) {
              py::array_t<double> out(shape);
              s.stepper().add_noise(data_of<double>(original, "original_samples"), data_of<double>(noise, "noise"),
                                    shape, t.data(), count, out.mutable_data(), variance_preserving);
              return std::move(out);
            }
            py::array_t<float> out(shape);
            s.stepper().add_noise(data_of<float>(original, "original_samples"), data_of<float>(noise, "noise"), shape,
                                  t.data(), count, out.mutable_data(), variance_preserving);
            return std::move(out);
          },
          py::arg("original_samples"), py::arg("noise"), py::arg("timesteps"));
  return cls;
}


}  // namespace ortdiffusion::bindings
