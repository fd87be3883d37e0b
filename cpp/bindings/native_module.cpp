// ortdiffusion._native: the module's entry point. With the bind_*.cpp files beside it (one per scheduler
// family) it exposes the C++ core (schedulers, torch-compatible Generator, initializer reader, LoRA merge)
// to the Python package, and maps the core's exception hierarchy once to Python exceptions deriving from
// ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>
#include <tuple>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "array_helpers.hpp"
#include "ortdiffusion/ddim_config.hpp"
#include "scheduler_bindings.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/lora_merge.hpp"
#include "ortdiffusion/onnx_initializers.hpp"
#include "ortdiffusion/scheduling_ddim.hpp"
#include "ortdiffusion/torch_cpu_capability.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"
#include "ortdiffusion/cpu_int8_dot_products.hpp"

namespace py = pybind11;
namespace od = ortdiffusion;
using namespace ortdiffusion::bindings;

namespace {

// Allocates prev_sample and pred_original_sample of `shape` and runs the C++ step into them.
template <typename T>
std::pair<py::array_t<T>, py::array_t<T>> run_step(const od::DDIMScheduler& s, const T* model_output, int64_t timestep,
                                                   const T* sample, const od::Shape& shape,
                                                   const od::DDIMStepOptions<T>& options) {
  py::array_t<T> prev(shape);
  py::array_t<T> pred_original(shape);
  s.step<T>(model_output, timestep, sample, shape, options, prev.mutable_data(), pred_original.mutable_data());
  return {std::move(prev), std::move(pred_original)};
}

template <typename T>
py::tuple step_typed(const od::DDIMScheduler& s, const py::array& model_output, int64_t timestep,
                     const py::array& sample, double eta, bool use_clipped, const py::object& variance_noise,
                     od::Generator* generator) {
  require_same_shape(model_output, "model_output", sample, "sample");
  const od::Shape shape = shape_of(sample);
  od::DDIMStepOptions<T> options;
  options.eta = eta;
  options.use_clipped_model_output = use_clipped;
  options.generator = generator;
  py::array noise_array;
  if (!variance_noise.is_none()) {
    noise_array = variance_noise.cast<py::array>();
    require_same_shape(noise_array, "variance_noise", sample, "sample");
    options.variance_noise = data_of<T>(noise_array, "variance_noise");
  }
  auto [prev, pred_original] = run_step<T>(s, data_of<T>(model_output, "model_output"), timestep,
                                           data_of<T>(sample, "sample"), shape, options);
  return py::make_tuple(std::move(prev), std::move(pred_original));
}


// Fast path of the denoising loop: both arrays C-contiguous, same float dtype and shape. Returns
// output_type(prev_sample, pred_original_sample), or None when the arrays need the general path.
template <typename T>
py::object step_fast_typed(const od::DDIMScheduler& s, const py::array& model_output, int64_t timestep,
                           const py::array& sample, bool use_clipped, const py::handle& output_type) {
  const auto ndim = sample.ndim();
  if (model_output.ndim() != ndim || !std::equal(sample.shape(), sample.shape() + ndim, model_output.shape())) {
    return py::none();  // the general path reports the mismatch with both shapes
  }
  od::DDIMStepOptions<T> options;
  options.use_clipped_model_output = use_clipped;
  auto [prev, pred_original] = run_step<T>(s, static_cast<const T*>(model_output.data()), timestep,
                                           static_cast<const T*>(sample.data()), shape_of(sample), options);
  // tuple.__new__(output_type, (prev, x0)): what a NamedTuple's own __new__ does, minus its Python frame.
  const py::tuple fields = py::make_tuple(py::make_tuple(std::move(prev), std::move(pred_original)));
  PyObject* out = PyTuple_Type.tp_new(reinterpret_cast<PyTypeObject*>(output_type.ptr()), fields.ptr(), nullptr);
  if (!out) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(out);
}


// Deterministic step into caller-owned buffers (the allocation-free denoising loop). All four arrays are
// C-contiguous T of one shape; the outputs must be writeable and share no memory with any other argument.
template <typename T>
void step_into_typed(const od::DDIMScheduler& s, const py::array& model_output, int64_t timestep,
                     const py::array& sample, bool use_clipped, py::array& prev, py::array& pred_original) {
  const std::pair<const py::array*, const char*> arrays[] = {
      {&model_output, "model_output"}, {&sample, "sample"}, {&prev, "prev_sample"},
      {&pred_original, "pred_original_sample"}};
  for (const auto& [array, name] : arrays) {
    data_of<T>(*array, name);
    require_same_shape(*array, name, sample, "sample");
  }
  for (const auto& [array, name] : {std::pair{&prev, "prev_sample"}, std::pair{&pred_original, "pred_original_sample"}}) {
    if (!array->writeable()) throw od::ArgumentError(std::string(name) + " must be a writeable array");
    for (const auto& [other, other_name] : arrays) {
      if (other != array && overlaps(*array, *other)) {
        throw od::ArgumentError(std::string(name) + " shares memory with " + other_name + "; pass separate buffers");
      }
    }
  }
  od::DDIMStepOptions<T> options;
  options.use_clipped_model_output = use_clipped;
  s.step<T>(static_cast<const T*>(model_output.data()), timestep, static_cast<const T*>(sample.data()), shape_of(sample),
            options, static_cast<T*>(prev.mutable_data()), static_cast<T*>(pred_original.mutable_data()));
}

template <typename T, typename Method>
py::array combine_typed(const od::DDIMScheduler& s, const py::array& a, const char* a_name, const py::array& b,
                        const char* b_name, const Timesteps& t, Method method) {
  require_same_shape(a, a_name, b, b_name);
  const od::Shape shape = shape_of(a);
  py::array_t<T> out(shape);
  (s.*method)(data_of<T>(a, a_name), data_of<T>(b, b_name), shape, t.data(), static_cast<int64_t>(t.size()),
              out.mutable_data());
  return std::move(out);
}

// add_noise / get_velocity: pick the float32 or float64 kernel by the first tensor's dtype.
template <typename MethodF, typename MethodD>
py::array combine_by_dtype(const od::DDIMScheduler& s, const py::array& a, const char* a_name, const py::array& b,
                           const char* b_name, const Timesteps& t, MethodF method_f, MethodD method_d) {
  if (a.dtype().equal(py::dtype::of<float>())) return combine_typed<float>(s, a, a_name, b, b_name, t, method_f);
  return combine_typed<double>(s, a, a_name, b, b_name, t, method_d);
}


// torch.Generator.manual_seed accepts [-2^63, 2^64); a negative seed is taken modulo 2^64 (as torch does).
uint64_t seed_from_python(const py::int_& seed) {
  const py::int_ min_seed(py::reinterpret_steal<py::object>(PyLong_FromString("-9223372036854775808", nullptr, 10)));
  const py::int_ max_seed(py::reinterpret_steal<py::object>(PyLong_FromString("18446744073709551615", nullptr, 10)));
  if (seed < min_seed || seed > max_seed) {
    throw py::value_error("seed must be within [-0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff], got " +
                          py::str(seed).cast<std::string>());
  }
  if (seed < py::int_(0)) {
    return static_cast<uint64_t>(seed.cast<int64_t>());  // two's complement: seed + 2^64
  }
  return seed.cast<uint64_t>();
}

std::vector<int64_t> shape_from_python(const py::handle& shape) {
  std::vector<int64_t> dims;
  if (py::isinstance<py::int_>(shape)) {
    dims.push_back(shape.cast<int64_t>());
  } else {
    for (auto d : py::iter(shape)) {
      if (!py::isinstance<py::int_>(d)) {
        throw py::type_error("shape must be an int or a sequence of ints, got element " +
                             py::repr(d).cast<std::string>());
      }
      dims.push_back(d.cast<int64_t>());
    }
  }
  for (int64_t d : dims) {
    if (d < 0) throw od::ArgumentError("randn: invalid shape " + od::shape_to_string(dims) + ": negative dimension");
  }
  return dims;
}

const char* capability_name(od::TorchCpuCapability c) {
  switch (c) {
    case od::TorchCpuCapability::Avx512: return "avx512";
    case od::TorchCpuCapability::Avx2: return "avx2";
    default: return "default";
  }
}

// A read-only numpy view of an initializer's bytes. Lifetime: the capsule owns a copy of the shared_ptr to
// the mapped file (or decoded buffer), so the array's `base` keeps that memory alive after the reader is gone.
py::array initializer_view(const od::Initializer& init) {
  const std::string type = od::onnx_type_name(static_cast<int32_t>(init.data_type));
  // numpy has no bfloat16: hand out the bit patterns as uint16; the Python side views them as ml_dtypes.bfloat16
  const py::dtype dtype(type == "bfloat16" ? std::string("uint16") : type == "bool" ? std::string("bool") : type);
  std::vector<py::ssize_t> shape(init.dims.begin(), init.dims.end());
  auto* holder = new std::shared_ptr<const void>(init.owner);
  py::capsule base(holder, [](void* p) { delete static_cast<std::shared_ptr<const void>*>(p); });
  static const std::byte empty{};
  const void* data = init.data != nullptr ? static_cast<const void*>(init.data) : static_cast<const void*>(&empty);
  py::array view(dtype, shape, {}, data, base);
  view.attr("flags").attr("writeable") = false;
  return view;
}

py::list initializer_list(const std::vector<od::Initializer>& inits) {
  py::list out;
  for (const auto& init : inits) {
    out.append(py::make_tuple(init.name, initializer_view(init),
                              od::onnx_type_name(static_cast<int32_t>(init.data_type)), init.external));
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "ortdiffusion native core (C++/Eigen): diffusers-exact schedulers, torch-compatible Generator, zero-copy ONNX initializer reader";

  // Exception hierarchy: base first, so that the more specific translators (registered later) win.
  static py::exception<od::Error> error(m, "OrtDiffusionError", PyExc_ValueError);
  static py::exception<od::ConfigError> config_error(m, "ConfigError", error.ptr());
  static py::exception<od::ArgumentError> argument_error(m, "ArgumentError", error.ptr());
  static py::exception<od::FormatError> format_error(m, "FormatError", error.ptr());
  static py::exception<od::ExternalDataError> external_data_error(m, "ExternalDataError", format_error.ptr());
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const od::ConfigError& e) {
      py::set_error(config_error, e.what());
    } catch (const od::ArgumentError& e) {
      py::set_error(argument_error, e.what());
    } catch (const od::ExternalDataError& e) {
      py::set_error(external_data_error, e.what());
    } catch (const od::FormatError& e) {
      py::set_error(format_error, e.what());
    } catch (const od::Error& e) {
      py::set_error(error, e.what());
    }
  });

  // ---- ONNX initializers (zero-copy) ----------------------------------------------------------
  m.def(
      "read_initializers",
      [](const std::string& path) {
        std::vector<od::Initializer> inits;
        {
          py::gil_scoped_release release;
          inits = od::read_initializers(path);
        }
        return initializer_list(inits);
      },
      py::arg("path"),
      "[(name, read-only array viewing the mapped file, type name, external?)] for every initializer of the "
      "ONNX file at path, in file order. bfloat16 tensors come as uint16 bit patterns.");
  m.def(
      "read_initializers_from_bytes",
      [](const py::bytes& data, const std::string& name, const std::string& model_dir) {
        const std::string_view view(data);
        auto buffer = std::make_shared<std::vector<std::byte>>(view.size());
        if (!view.empty()) std::memcpy(buffer->data(), view.data(), view.size());
        return initializer_list(od::read_initializers_from_memory(buffer, name, model_dir));
      },
      py::arg("data"), py::arg("name") = "<bytes>", py::arg("model_dir") = "",
      "As read_initializers, over a model in memory (copied once); external data only with model_dir.");

  // ---- LoRA merge ------------------------------------------------------------------------------
  m.def(
      "lora_merge",
      [](const py::array& weight, bool transposed, const std::vector<std::tuple<py::array, py::array, double>>& factors) {
        if (weight.ndim() != 2) throw od::ArgumentError("lora_merge: weight must be 2-D, got " + od::shape_to_string(shape_of(weight)));
        const float* w = data_of<float>(weight, "weight");
        const int64_t rows = weight.shape(0), cols = weight.shape(1);
        const int64_t out_features = transposed ? cols : rows, in_features = transposed ? rows : cols;
        std::vector<od::LoraFactor> native;
        for (const auto& [up, down, scale] : factors) {
          if (up.ndim() != 2 || down.ndim() != 2 || up.shape(0) != out_features || down.shape(1) != in_features ||
              up.shape(1) != down.shape(0)) {
            throw od::ArgumentError("lora_merge: up " + od::shape_to_string(shape_of(up)) + " @ down " +
                                    od::shape_to_string(shape_of(down)) + " does not give [" +
                                    std::to_string(out_features) + ", " + std::to_string(in_features) + "]");
          }
          native.push_back({data_of<float>(up, "up"), data_of<float>(down, "down"), up.shape(1), static_cast<float>(scale)});
        }
        py::array_t<float> out({rows, cols});
        float* dst = out.mutable_data();
        {
          py::gil_scoped_release release;
          od::merge_lora(w, rows, cols, transposed, native, dst);
        }
        return out;
      },
      py::arg("weight"), py::arg("transposed"), py::arg("factors"),
      "W + sum(scale * up @ down) for float32 C-contiguous 2-D arrays (weight [out, in], or [in, out] when "
      "transposed); factors: [(up [out, r], down [r, in], scale)]. Returns a new array.");

  m.def(
      "lora_merge_into",
      [](const std::vector<std::tuple<py::array, py::array, bool, std::vector<std::tuple<py::array, py::array, double>>>>& jobs,
         int threads) {
        std::vector<od::LoraMergeJob> native;
        for (const auto& [weight, dst, transpose_out, factors] : jobs) {
          if (weight.ndim() != 2 || dst.ndim() != 2) throw od::ArgumentError("lora_merge_into: weight and dst must be 2-D");
          const int64_t rows = weight.shape(0), cols = weight.shape(1);
          const bool shape_ok = transpose_out ? (dst.shape(0) == cols && dst.shape(1) == rows)
                                              : (dst.shape(0) == rows && dst.shape(1) == cols);
          if (!shape_ok || !dst.writeable() || !is_contiguous_of<float>(dst)) {
            throw od::ArgumentError("lora_merge_into: dst " + od::shape_to_string(shape_of(dst)) +
                                    " must be a writable C-contiguous float32 array of the weight's (transposed) shape");
          }
          od::LoraMergeJob job{data_of<float>(weight, "weight"), rows, cols, transpose_out, {},
                               static_cast<float*>(const_cast<void*>(dst.data()))};
          for (const auto& [up, down, scale] : factors) {
            if (up.ndim() != 2 || down.ndim() != 2 || up.shape(0) != rows || down.shape(1) != cols || up.shape(1) != down.shape(0)) {
              throw od::ArgumentError("lora_merge_into: up " + od::shape_to_string(shape_of(up)) + " @ down " +
                                      od::shape_to_string(shape_of(down)) + " does not give " + od::shape_to_string(shape_of(weight)));
            }
            job.factors.push_back({data_of<float>(up, "up"), data_of<float>(down, "down"), up.shape(1), static_cast<float>(scale)});
          }
          native.push_back(std::move(job));
        }
        py::gil_scoped_release release;
        od::merge_lora_jobs(native, threads);
      },
      py::arg("jobs"), py::arg("threads") = 0,
      "In-place merges for live LoRA switching: jobs [(weight [out, in], dst, transpose_out, [(up, down, scale)])]; "
      "dst = W + sum(scale * up @ down), transposed when transpose_out. Jobs run on `threads` threads (0: all cores).");

  m.def("torch_cpu_capability", [] { return capability_name(od::torch_cpu_capability()); },
        "The ATen CPU kernel family torch would use on this machine: 'default', 'avx2' or 'avx512'.");
  m.def("cpu_int8_dot_products",
        [] {
          switch (od::cpu_int8_dot_products()) {
            case od::Int8DotProducts::X86Vnni: return "x86-vnni";
            case od::Int8DotProducts::X86Saturating: return "x86-saturating";
            default: return "not-x86";
          }
        },
        "This CPU's int8 dot products in ONNX Runtime's uint8 x int8 kernels: 'x86-vnni' (exact), "
        "'x86-saturating' (x86 without VNNI: pairs of products saturate in 16 bits) or 'not-x86'.");

  // ---- Generator ---------------------------------------------------------------------------
  py::class_<od::Generator>(m, "Generator", R"doc(
Seeded Gaussian noise equal to torch's CPU generator.

``Generator(seed).randn(shape)`` returns the same values as
``torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))``, and successive calls
continue the same stream as successive torch calls on one generator do.
)doc")
      .def(py::init([](const py::object& seed) {
             return od::Generator(seed.is_none() ? od::Generator::kDefaultSeed : seed_from_python(seed));
           }),
           py::arg("seed") = py::none())
      .def(
          "manual_seed",
          [](od::Generator& g, const py::int_& seed) -> od::Generator& {
            g.manual_seed(seed_from_python(seed));
            return g;
          },
          py::arg("seed"), py::return_value_policy::reference_internal,
          "Reseed (and clear the cached normal sample), like torch.Generator.manual_seed; returns self.")
      .def("initial_seed", &od::Generator::initial_seed, "The seed this generator was last seeded with.")
      .def(
          "randn",
          [](od::Generator& g, const py::object& shape, const py::object& dtype) -> py::array {
            const auto dims = shape_from_python(shape);
            const py::dtype dt = py::dtype::from_args(dtype);
            if (dt.is(py::dtype::of<float>()) || dt.equal(py::dtype::of<float>())) {
              py::array_t<float> out(dims);
              g.randn(out.mutable_data(), static_cast<int64_t>(out.size()));
              return std::move(out);
            }
            if (dt.equal(py::dtype::of<double>())) {
              py::array_t<double> out(dims);
              g.randn(out.mutable_data(), static_cast<int64_t>(out.size()));
              return std::move(out);
            }
            throw py::type_error("randn: dtype must be float32 or float64, got " + py::str(dt).cast<std::string>());
          },
          py::arg("shape"), py::arg("dtype") = py::str("float32"),
          "Standard normal samples of `shape` (int or sequence of ints), float32 by default, as torch.randn.")
      .def("__copy__", [](const od::Generator& g) { return od::Generator(g); })
      .def("__deepcopy__", [](const od::Generator& g, const py::dict&) { return od::Generator(g); })
      .def("__repr__",
           [](const od::Generator& g) { return "ortdiffusion.Generator(seed=" + std::to_string(g.initial_seed()) + ")"; });

  // ---- DDIM --------------------------------------------------------------------------------
  m.def("ddim_config_keys", [] { return od::DDIMConfig::keys(); }, "The config keys DDIMScheduler understands.");
  m.def(
      "load_ddim_config", [](const std::string& path) { return od::to_json(od::load_ddim_config(path)); },
      py::arg("path"), "Read a scheduler_config.json with the C++ reader; returns the normalised JSON.");

  py::class_<od::DDIMScheduler>(m, "DDIMScheduler")
      .def(py::init([](const std::string& json_text, const std::string& source) {
             return od::DDIMScheduler(od::parse_ddim_config(json_text, source));
           }),
           py::arg("config_json"), py::arg("source") = "config")
      .def("config_json", [](const od::DDIMScheduler& s) { return od::to_json(s.config()); })
      .def("set_timesteps", &od::DDIMScheduler::set_timesteps, py::arg("num_inference_steps"))
      .def_property_readonly("timesteps", [](const od::DDIMScheduler& s) { return vector_to_array(s.timesteps()); })
      .def_property_readonly("num_inference_steps", &od::DDIMScheduler::num_inference_steps)
      .def_property_readonly("betas", [](const od::DDIMScheduler& s) { return vector_to_array(s.betas()); })
      .def_property_readonly("alphas_cumprod",
                             [](const od::DDIMScheduler& s) { return vector_to_array(s.alphas_cumprod()); })
      .def_property_readonly("final_alpha_cumprod", &od::DDIMScheduler::final_alpha_cumprod)
      .def_property_readonly("init_noise_sigma", &od::DDIMScheduler::init_noise_sigma)
      .def(
          "step_coefficients",
          [](const od::DDIMScheduler& s, int64_t timestep, double eta) {
            const auto c = s.step_coefficients(timestep, eta);
            py::dict d;
            d["prev_timestep"] = c.prev_timestep;
            d["alpha_prod_t"] = c.alpha_prod_t;
            d["alpha_prod_t_prev"] = c.alpha_prod_t_prev;
            d["beta_prod_t"] = c.beta_prod_t;
            d["std_dev_t"] = c.std_dev_t;
            d["direction_coefficient"] = c.direction_coefficient;
            return d;
          },
          py::arg("timestep"), py::arg("eta") = 0.0)
      .def(
          "step",
          [](const od::DDIMScheduler& s, const py::array& model_output, int64_t timestep, const py::array& sample,
             double eta, bool use_clipped, const py::object& variance_noise, od::Generator* generator) {
            if (sample.dtype().equal(py::dtype::of<float>())) {
              return step_typed<float>(s, model_output, timestep, sample, eta, use_clipped, variance_noise, generator);
            }
            return step_typed<double>(s, model_output, timestep, sample, eta, use_clipped, variance_noise, generator);
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("eta") = 0.0,
          py::arg("use_clipped_model_output") = false, py::arg("variance_noise") = py::none(),
          py::arg("generator") = nullptr)
      .def(
          "step_fast",
          [](const od::DDIMScheduler& s, const py::array& model_output, int64_t timestep, const py::array& sample,
             bool use_clipped, const py::handle& output_type) -> py::object {
            const bool f32 = is_contiguous_of<float>(sample) && is_contiguous_of<float>(model_output);
            if (f32) return step_fast_typed<float>(s, model_output, timestep, sample, use_clipped, output_type);
            if (is_contiguous_of<double>(sample) && is_contiguous_of<double>(model_output)) {
              return step_fast_typed<double>(s, model_output, timestep, sample, use_clipped, output_type);
            }
            return py::none();
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("use_clipped_model_output"),
          py::arg("output_type"),
          "Deterministic step (eta = 0) on C-contiguous same-dtype float arrays, returning output_type(prev, x0) "
          "(output_type: a tuple subclass with two fields); "
          "None when the inputs need the general step().")
      .def(
          "step_into",
          [](const od::DDIMScheduler& s, const py::array& model_output, int64_t timestep, const py::array& sample,
             bool use_clipped, py::array& prev_sample, py::array& pred_original_sample) {
            if (sample.dtype().equal(py::dtype::of<double>())) {
              step_into_typed<double>(s, model_output, timestep, sample, use_clipped, prev_sample, pred_original_sample);
            } else {
              step_into_typed<float>(s, model_output, timestep, sample, use_clipped, prev_sample, pred_original_sample);
            }
          },
          py::arg("model_output"), py::arg("timestep"), py::arg("sample"), py::arg("use_clipped_model_output"),
          py::arg("prev_sample"), py::arg("pred_original_sample"),
          "Deterministic step (eta = 0) writing into the caller's prev_sample and pred_original_sample arrays "
          "(C-contiguous, same dtype and shape as sample, sharing no memory with the other arguments).")
      .def(
          "add_noise",
          [](const od::DDIMScheduler& s, const py::array& original, const py::array& noise, const Timesteps& t) {
            return combine_by_dtype(s, original, "original_samples", noise, "noise", t,
                                    &od::DDIMScheduler::add_noise<float>, &od::DDIMScheduler::add_noise<double>);
          },
          py::arg("original_samples"), py::arg("noise"), py::arg("timesteps"))
      .def(
          "get_velocity",
          [](const od::DDIMScheduler& s, const py::array& sample, const py::array& noise, const Timesteps& t) {
            return combine_by_dtype(s, sample, "sample", noise, "noise", t, &od::DDIMScheduler::get_velocity<float>,
                                    &od::DDIMScheduler::get_velocity<double>);
          },
          py::arg("sample"), py::arg("noise"), py::arg("timesteps"));

  m.def("torch_sqrt_is_mkl_avx512", &od::torch_sqrt_is_mkl_avx512,
        "True when torch on this machine takes float32 square roots with MKL's AVX-512 kernel (which "
        "ortdiffusion then reproduces bit for bit).");
  m.def(
      "torch_sqrt",
      [](const py::array_t<float, py::array::c_style | py::array::forcecast>& x, bool mkl_avx512) {
        py::array_t<float> out(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
        const float* in = x.data();
        float* o = out.mutable_data();
        for (py::ssize_t i = 0; i < x.size(); ++i) o[i] = mkl_avx512 ? od::mkl_avx512_sqrt(in[i]) : od::torch_sqrt(in[i]);
        return out;
      },
      py::arg("x"), py::arg("mkl_avx512") = false,
      "float32 sqrt as torch computes it on this machine (mkl_avx512=True: MKL's AVX-512 kernel regardless "
      "of the CPU).");

  bind_pndm(m);
  bind_euler(m);
  bind_dpmsolver(m);
  bind_unipc(m);
  bind_lcm(m);
  bind_heun(m);
  bind_ddpm(m);
  bind_kdpm2(m);
  bind_lms(m);
  bind_tcd(m);
  bind_dpmsolver_singlestep(m);
}
