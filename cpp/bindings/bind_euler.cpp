// ortdiffusion._native.EulerDiscreteScheduler and EulerAncestralDiscreteScheduler for the Python facades
// (python/ortdiffusion/schedulers/scheduling_euler_*.py), which handle torch tensors and diffusers' API.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/euler_config.hpp"
#include "ortdiffusion/scheduling_euler_ancestral.hpp"
#include "ortdiffusion/scheduling_euler_discrete.hpp"
#include "scheduler_bindings.hpp"

namespace ortdiffusion::bindings {
namespace {

using FloatTimesteps = py::array_t<double, py::array::c_style | py::array::forcecast>;

// An optional noise array of the sample's dtype and shape (None: no noise given).
template <typename T>
const T* optional_noise(const py::object& noise, const py::array& sample) {
  if (noise.is_none()) return nullptr;
  const auto array = noise.cast<py::array>();
  require_same_shape(array, "noise", sample, "sample");
  return data_of<T>(array, "noise");
}

template <typename T, typename Step>
py::tuple run_step(const py::array& model_output, const py::array& sample, Step step) {
  require_same_shape(model_output, "model_output", sample, "sample");
  const od::Shape shape = shape_of(sample);
  py::array_t<T> prev(shape), x0(shape);
  step(data_of<T>(model_output, "model_output"), data_of<T>(sample, "sample"), shape, prev.mutable_data(),
       x0.mutable_data());
  return py::make_tuple(std::move(prev), std::move(x0));
}

// What both classes share: construction from JSON, schedule state, scale_model_input, add_noise.
template <typename Scheduler>
py::class_<Scheduler> bind_sigma_scheduler(py::module_& m, const char* name, bool ancestral) {
  py::class_<Scheduler> cls(m, name);
  cls.def(py::init([ancestral](const std::string& json_text, const std::string& source) {
           return Scheduler(od::parse_euler_config(json_text, source, ancestral));
         }),
         py::arg("config_json"), py::arg("source") = "config")
      .def("config_json", [ancestral](const Scheduler& s) { return od::to_json(s.config(), ancestral); })
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
              s.stepper().scale_model_input(data_of<double>(sample, "sample"), n, timestep, out.mutable_data());
              return std::move(out);
            }
            py::array_t<float> out(shape);
            s.stepper().scale_model_input(data_of<float>(sample, "sample"), n, timestep, out.mutable_data());
            return std::move(out);
          },
          py::arg("sample"), py::arg("timestep"), "sample / sqrt(sigma^2 + 1) for the sigma of `timestep`.")
      .def(
          "add_noise",
          [](const Scheduler& s, const py::array& original, const py::array& noise, const FloatTimesteps& t) -> py::array {
            require_same_shape(original, "original_samples", noise, "noise");
            const od::Shape shape = shape_of(original);
            const auto count = static_cast<int64_t>(t.size());
            if (original.dtype().equal(py::dtype::of<double>())) {
              py::array_t<double> out(shape);
              s.stepper().add_noise(data_of<double>(original, "original_samples"), data_of<double>(noise, "noise"),
                                    shape, t.data(), count, out.mutable_data());
              return std::move(out);
            }
            py::array_t<float> out(shape);
            s.stepper().add_noise(data_of<float>(original, "original_samples"), data_of<float>(noise, "noise"), shape,
                                  t.data(), count, out.mutable_data());
            return std::move(out);
          },
          py::arg("original_samples"), py::arg("noise"), py::arg("timesteps"));
  return cls;
}

}  // namespace

void bind_euler(py::module_& m) {
  m.def("euler_config_keys", [](bool ancestral) { return od::EulerConfig::keys(ancestral); }, py::arg("ancestral"),
        "The config keys of EulerDiscreteScheduler (ancestral=False) or EulerAncestralDiscreteScheduler.");

  bind_sigma_scheduler<od::EulerDiscreteScheduler>(m, "EulerDiscreteScheduler", false)
      .def("set_timesteps_from", &od::EulerDiscreteScheduler::set_timesteps_from, py::arg("timesteps"))
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

  bind_sigma_scheduler<od::EulerAncestralDiscreteScheduler>(m, "EulerAncestralDiscreteScheduler", true)
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
