// ortdiffusion._native.UniPCMultistepScheduler for the Python facade
// (python/ortdiffusion/schedulers/scheduling_unipc_multistep.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "array_helpers.hpp"
#include "ortdiffusion/scheduling_unipc_multistep.hpp"
#include "ortdiffusion/unipc_config.hpp"
#include "scheduler_bindings.hpp"
#include "sigma_scheduler_binding.hpp"

namespace ortdiffusion::bindings {

void bind_unipc(py::module_& m) {
  m.def("unipc_config_keys", [] { return od::UniPCConfig::keys(); },
        "The config keys UniPCMultistepScheduler understands.");
  const auto parse = [](const std::string& text, const std::string& source) { return od::parse_unipc_config(text, source); };
  const auto dump = [](const od::UniPCConfig& c) { return od::to_json(c); };
  bind_sigma_scheduler<od::UniPCMultistepScheduler>(m, "UniPCMultistepScheduler", parse, dump,
                                                    /*variance_preserving=*/true)
      .def_property_readonly("lower_order_nums", &od::UniPCMultistepScheduler::lower_order_nums)
      .def_property_readonly("this_order", &od::UniPCMultistepScheduler::this_order)
      .def(
          "step",
          [](od::UniPCMultistepScheduler& s, const py::array& model_output, double timestep, const py::array& sample,
             const py::object& out) -> py::array {
            require_same_shape(model_output, "model_output", sample, "sample");
            auto run = [&](auto tag) -> py::array {
              using T = decltype(tag);
              const od::Shape shape = shape_of(sample);
              py::array prev = prev_sample_buffer<T>(out, sample, model_output);
              s.step<T>(data_of<T>(model_output, "model_output"), timestep, data_of<T>(sample, "sample"), shape,
                        static_cast<T*>(prev.mutable_data()));
              return prev;
            };
            if (sample.dtype().equal(py::dtype::of<double>())) return run(double{});
            return run(float{});
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("prev_sample") = py::none(),
          "One UniPC step (corrector, then predictor); returns prev_sample (written into `prev_sample` when given).");
}

}  // namespace ortdiffusion::bindings
