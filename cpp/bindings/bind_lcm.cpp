// ortdiffusion._native.LCMScheduler for the Python facade (python/ortdiffusion/schedulers/scheduling_lcm.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/scheduling_lcm.hpp"
#include "scheduler_bindings.hpp"
#include "sigma_scheduler_binding.hpp"

namespace ortdiffusion::bindings {

void bind_lcm(py::module_& m) {
  m.def("lcm_config_keys", [] { return od::LCMConfig::keys(); }, "The config keys LCMScheduler understands.");
  py::class_<od::LCMScheduler>(m, "LCMScheduler")
      .def(py::init([](const std::string& json_text, const std::string& source) {
             return od::LCMScheduler(od::parse_lcm_config(json_text, source));
           }),
           py::arg("config_json"), py::arg("source") = "config")
      .def("config_json", [](const od::LCMScheduler& s) { return od::to_json(s.config()); })
      .def("set_timesteps", &od::LCMScheduler::set_timesteps, py::arg("num_inference_steps"),
           py::arg("original_inference_steps") = 0, py::arg("strength") = 1.0)
      .def("set_timesteps_from", &od::LCMScheduler::set_timesteps_from, py::arg("timesteps"), py::arg("strength") = 1.0)
      .def_property_readonly("timesteps", [](const od::LCMScheduler& s) { return vector_to_array(s.timesteps()); })
      .def_property_readonly("num_inference_steps", &od::LCMScheduler::num_inference_steps)
      .def_property_readonly("step_index", &od::LCMScheduler::step_index)
      .def_property_readonly("begin_index", &od::LCMScheduler::begin_index)
      .def("set_begin_index", &od::LCMScheduler::set_begin_index, py::arg("begin_index"))
      .def_property_readonly("init_noise_sigma", &od::LCMScheduler::init_noise_sigma)
      .def_property_readonly("final_alpha_cumprod", &od::LCMScheduler::final_alpha_cumprod)
      .def_property_readonly("betas", [](const od::LCMScheduler& s) { return vector_to_array(s.betas()); })
      .def_property_readonly("alphas_cumprod", [](const od::LCMScheduler& s) { return vector_to_array(s.alphas_cumprod()); })
      .def(
          "step",
          [](od::LCMScheduler& s, const py::array& model_output, int64_t timestep, const py::array& sample,
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
          py::arg("generator") = nullptr, "One LCM step; returns (prev_sample, denoised).")
      .def(
          "add_noise",
          [](const od::LCMScheduler& s, const py::array& original, const py::array& noise, const Timesteps& t) {
            return add_noise_by_alphas(s.alphas_cumprod(), original, noise, t);
          },
          py::arg("original_samples"), py::arg("noise"), py::arg("timesteps"));
}

}  // namespace ortdiffusion::bindings
