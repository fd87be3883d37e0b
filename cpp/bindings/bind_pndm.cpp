// ortdiffusion._native.PNDMScheduler: the C++ PNDM (scheduling_pndm.hpp) for the Python facade
// (python/ortdiffusion/schedulers/scheduling_pndm.py), which handles torch tensors and diffusers' API.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/pndm_config.hpp"
#include "ortdiffusion/scheduling_pndm.hpp"
#include "scheduler_bindings.hpp"

namespace ortdiffusion::bindings {
namespace {

using StepMethod = void (od::PNDMScheduler::*)(const float*, int64_t, const float*, const od::Shape&, float*);

// One PNDM step on C-contiguous arrays of one float dtype and shape, into `out` (allocated when None).
template <typename T>
py::array step_typed(od::PNDMScheduler& s, const std::string& method, const py::array& model_output, int64_t timestep,
                     const py::array& sample, const py::object& out) {
  const T* mo = data_of<T>(model_output, "model_output");
  const T* x = data_of<T>(sample, "sample");
  require_same_shape(model_output, "model_output", sample, "sample");
  const od::Shape shape = shape_of(sample);
  py::array prev = prev_sample_buffer<T>(out, sample, model_output);
  T* dst = static_cast<T*>(prev.mutable_data());
  if (method == "step") {
    s.step<T>(mo, timestep, x, shape, dst);
  } else if (method == "prk") {
    s.step_prk<T>(mo, timestep, x, shape, dst);
  } else {
    s.step_plms<T>(mo, timestep, x, shape, dst);
  }
  return prev;
}

}  // namespace

void bind_pndm(py::module_& m) {
  m.def("pndm_config_keys", [] { return od::PNDMConfig::keys(); }, "The config keys PNDMScheduler understands.");
  m.def(
      "load_pndm_config", [](const std::string& path) { return od::to_json(od::load_pndm_config(path)); },
      py::arg("path"), "Read a scheduler_config.json with the C++ reader; returns the normalised JSON.");

  py::class_<od::PNDMScheduler>(m, "PNDMScheduler")
      .def(py::init([](const std::string& json_text, const std::string& source) {
             return od::PNDMScheduler(od::parse_pndm_config(json_text, source));
           }),
           py::arg("config_json"), py::arg("source") = "config")
      .def("config_json", [](const od::PNDMScheduler& s) { return od::to_json(s.config()); })
      .def("set_timesteps", &od::PNDMScheduler::set_timesteps, py::arg("num_inference_steps"))
      .def_property_readonly("timesteps", [](const od::PNDMScheduler& s) { return vector_to_array(s.timesteps()); })
      .def_property_readonly("prk_timesteps",
                             [](const od::PNDMScheduler& s) { return vector_to_array(s.prk_timesteps()); })
      .def_property_readonly("plms_timesteps",
                             [](const od::PNDMScheduler& s) { return vector_to_array(s.plms_timesteps()); })
      .def_property_readonly("num_inference_steps", &od::PNDMScheduler::num_inference_steps)
      .def_property_readonly("counter", &od::PNDMScheduler::counter)
      .def_property_readonly("betas", [](const od::PNDMScheduler& s) { return vector_to_array(s.betas()); })
      .def_property_readonly("alphas_cumprod",
                             [](const od::PNDMScheduler& s) { return vector_to_array(s.alphas_cumprod()); })
      .def_property_readonly("final_alpha_cumprod", &od::PNDMScheduler::final_alpha_cumprod)
      .def_property_readonly("init_noise_sigma", &od::PNDMScheduler::init_noise_sigma)
      .def(
          "step",
          [](od::PNDMScheduler& s, const py::array& model_output, int64_t timestep, const py::array& sample,
             const py::object& prev_sample, const std::string& method) -> py::array {
            if (method != "step" && method != "prk" && method != "plms") {
              throw py::value_error("method must be 'step', 'prk' or 'plms', got '" + method + "'");
            }
            if (sample.dtype().equal(py::dtype::of<double>())) {
              return step_typed<double>(s, method, model_output, timestep, sample, prev_sample);
            }
            return step_typed<float>(s, method, model_output, timestep, sample, prev_sample);
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("prev_sample") = py::none(),
          py::arg("method") = "step",
          "One PNDM step on C-contiguous float32/float64 arrays of one shape; writes into prev_sample when "
          "given (no allocation), else returns a new array. method: 'step' (PRK then PLMS), 'prk' or 'plms'.")
      .def(
          "ets",
          [](const od::PNDMScheduler& s, const py::object& like) -> py::list {
            py::list out;
            for (const auto& e : s.ets<float>()) out.append(vector_to_array(e).attr("reshape")(like));
            for (const auto& e : s.ets<double>()) out.append(vector_to_array(e).attr("reshape")(like));
            return out;
          },
          py::arg("shape"), "The remembered model outputs, oldest first, each reshaped to `shape`.")
      .def(
          "set_ets",
          [](od::PNDMScheduler& s, const py::list& outputs) {
            if (outputs.empty()) {
              s.clear_ets();
              return;
            }
            const py::array first = outputs[0].cast<py::array>();
            auto run = [&](auto tag) {
              using T = decltype(tag);
              std::vector<const T*> pointers;
              for (const auto& item : outputs) {
                const py::array a = item.cast<py::array>();
                require_same_shape(a, "ets entry", first, "the first ets entry");
                pointers.push_back(data_of<T>(a, "ets entry"));
              }
              s.set_ets<T>(pointers, shape_of(first));
            };
            if (first.dtype().equal(py::dtype::of<double>())) {
              run(double{});
            } else {
              run(float{});
            }
          },
          py::arg("outputs"), "Replace the remembered model outputs (C-contiguous arrays of one dtype and shape).")
      .def(
          "add_noise",
          [](const od::PNDMScheduler& s, const py::array& original, const py::array& noise, const Timesteps& t) {
            return add_noise_by_alphas(s.alphas_cumprod(), original, noise, t);
          },
          py::arg("original_samples"), py::arg("noise"), py::arg("timesteps"));
}

}  // namespace ortdiffusion::bindings
