// ortdiffusion._native.DDPMScheduler for the Python facade (python/ortdiffusion/schedulers/scheduling_ddpm.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/scheduling_ddpm.hpp"
#include "scheduler_bindings.hpp"
#include "sigma_scheduler_binding.hpp"

namespace ortdiffusion::bindings {

void bind_ddpm(py::module_& m) {
  m.def("ddpm_config_keys", [] { return od::DDPMConfig::keys(); }, "The config keys DDPMScheduler understands.");
  py::class_<od::DDPMScheduler>(m, "DDPMScheduler")
      .def(py::init([](const std::string& json_text, const std::string& source) {
             return od::DDPMScheduler(od::parse_ddpm_config(json_text, source));
           }),
           py::arg("config_json"), py::arg("source") = "config")
      .def("config_json", [](const od::DDPMScheduler& s) { return od::to_json(s.config()); })
      .def("set_timesteps", &od::DDPMScheduler::set_timesteps, py::arg("num_inference_steps"))
      .def("set_timesteps_from", &od::DDPMScheduler::set_timesteps_from, py::arg("timesteps"))
      .def("previous_timestep", &od::DDPMScheduler::previous_timestep, py::arg("timestep"))
      .def_property_readonly("timesteps", [](const od::DDPMScheduler& s) { return vector_to_array(s.timesteps()); })
      .def_property_readonly("num_inference_steps", &od::DDPMScheduler::num_inference_steps)
      .def_property_readonly("init_noise_sigma", &od::DDPMScheduler::init_noise_sigma)
      .def_property_readonly("betas", [](const od::DDPMScheduler& s) { return vector_to_array(s.betas()); })
      .def_property_readonly("alphas_cumprod", [](const od::DDPMScheduler& s) { return vector_to_array(s.alphas_cumprod()); })
      .def(
          "step",
          [](const od::DDPMScheduler& s, const py::array& model_output, int64_t timestep, const py::array& sample,
             const py::object& noise, od::Generator* generator) -> py::tuple {
            auto run = [&](auto tag) {
              using T = decltype(tag);
              const T* noise_data = optional_noise<T>(noise, sample);
              return run_step<T>(model_output, sample, [&](const T* mo, const T* x, const od::Shape& shape, T* prev, T* out) {
                s.step<T>(mo, timestep, x, shape, noise_data, generator, prev, out);
              });
            };
            if (sample.dtype().equal(py::dtype::of<double>())) return run(double{});
            return run(float{});
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("noise") = py::none(),
          py::arg("generator") = nullptr, "One DDPM step; returns (prev_sample, pred_original_sample).")
      .def(
          "add_noise",
          [](const od::DDPMScheduler& s, const py::array& original, const py::array& noise, const Timesteps& t) {
            return add_noise_by_alphas(s.alphas_cumprod(), original, noise, t);
          },
          py::arg("original_samples"), py::arg("noise"), py::arg("timesteps"));
}

}  // namespace ortdiffusion::bindings
