// ortdiffusion._native.TCDScheduler for the Python facade (python/ortdiffusion/schedulers/scheduling_tcd.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/scheduling_tcd.hpp"
#include "scheduler_bindings.hpp"
#include "sigma_scheduler_binding.hpp"

namespace ortdiffusion::bindings {

void bind_tcd(py::module_& m) {
  py::class_<od::TCDScheduler>(m, "TCDScheduler")
      .def(py::init([](const std::string& json_text, const std::string& source) {
             return od::TCDScheduler(od::parse_lcm_config(json_text, source));
           }),
           py::arg("config_json"), py::arg("source") = "config")
      .def("config_json", [](const od::TCDScheduler& s) { return od::to_json(s.config()); })
      .def("set_timesteps", &od::TCDScheduler::set_timesteps, py::arg("num_inference_steps"),
           py::arg("original_inference_steps") = 0, py::arg("strength") = 1.0)
      .def("set_timesteps_from", &od::TCDScheduler::set_timesteps_from, py::arg("timesteps"), py::arg("strength") = 1.0)
      .def_property_readonly("timesteps", [](const od::TCDScheduler& s) { return vector_to_array(s.timesteps()); })
      .def_property_readonly("num_inference_steps", &od::TCDScheduler::num_inference_steps)
      .def_property_readonly("step_index", &od::TCDScheduler::step_index)
      .def_property_readonly("begin_index", &od::TCDScheduler::begin_index)
      .def("set_begin_index", &od::TCDScheduler::set_begin_index, py::arg("begin_index"))
      .def_property_readonly("init_noise_sigma", &od::TCDScheduler::init_noise_sigma)
      .def_property_readonly("final_alpha_cumprod", &od::TCDScheduler::final_alpha_cumprod)
      .def_property_readonly("betas", [](const od::TCDScheduler& s) { return vector_to_array(s.betas()); })
      .def_property_readonly("alphas_cumprod", [](const od::TCDScheduler& s) { return vector_to_array(s.alphas_cumprod()); })
      .def("step_draws_noise", &od::TCDScheduler::step_draws_noise, py::arg("timestep"), py::arg("eta"))
      .def(
          "step",
          [](od::TCDScheduler& s, const py::array& model_output, int64_t timestep, const py::array& sample, double eta,
             const py::object& noise, od::Generator* generator) -> py::tuple {
            auto run = [&](auto tag) {
              using T = decltype(tag);
              const T* noise_data = optional_noise<T>(noise, sample);
              return run_step<T>(model_output, sample, [&](const T* mo, const T* x, const od::Shape& shape, T* prev, T* out) {
                s.step<T>(mo, timestep, x, shape, eta, noise_data, generator, prev, out);
              });
            };
            if (sample.dtype().equal(py::dtype::of<double>())) return run(double{});
            return run(float{});
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("eta") = 0.3,
          py::arg("noise") = py::none(), py::arg("generator") = nullptr,
          "One TCD step; returns (prev_sample, pred_noised_sample).")
      .def(
          "add_noise",
          [](const od::TCDScheduler& s, const py::array& original, const py::array& noise, const Timesteps& t) {
            return add_noise_by_alphas(s.alphas_cumprod(), original, noise, t);
          },
          py::arg("original_samples"), py::arg("noise"), py::arg("timesteps"));
}

}  // namespace ortdiffusion::bindings
