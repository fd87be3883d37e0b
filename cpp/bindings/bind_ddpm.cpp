// ortdiffusion._native.DDPMScheduler for the Python facade (python/ortdiffusion/schedulers/scheduling_ddpm.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/scheduling_ddpm.hpp"
#include "scheduler_bindings.hpp"

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
            require_same_shape(model_output, "model_output", sample, "sample");
            auto run = [&](auto tag) -> py::tuple {
              using T = decltype(tag);
              const od::Shape shape = shape_of(sample);
              const T* noise_data = nullptr;
              py::array noise_array;
              if (!noise.is_none()) {
                noise_array = noise.cast<py::array>();
                require_same_shape(noise_array, "variance_noise", sample, "sample");
                noise_data = data_of<T>(noise_array, "variance_noise");
              }
              py::array_t<T> prev(shape), x0(shape);
              s.step<T>(data_of<T>(model_output, "model_output"), timestep, data_of<T>(sample, "sample"), shape,
                        noise_data, generator, prev.mutable_data(), x0.mutable_data());
              return py::make_tuple(std::move(prev), std::move(x0));
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
