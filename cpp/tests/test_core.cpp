// The C++ core's own tests: no Python, no framework, run by ctest. Reference values marked "torch"
// were printed by torch 2.13 (torch.randn on torch.Generator().manual_seed(0)); the rest are
// properties the DDIM equations guarantee.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "ortdiffusion/cpu_int8_dot_products.hpp"
#include "ortdiffusion/ddim_config.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/incomplete_beta.hpp"
#include "ortdiffusion/scheduling_dpmsolver_singlestep.hpp"
#include "ortdiffusion/scheduling_k_dpm_2_discrete.hpp"
#include "ortdiffusion/scheduling_lms_discrete.hpp"
#include "ortdiffusion/scheduling_tcd.hpp"
#include "ortdiffusion/kdpm2_config.hpp"
#include "ortdiffusion/lora_merge.hpp"
#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/onnx_initializers.hpp"
#include "ortdiffusion/scheduling_ddim.hpp"
#include "ortdiffusion/pndm_config.hpp"
#include "ortdiffusion/scheduling_euler_ancestral.hpp"
#include "ortdiffusion/scheduling_euler_discrete.hpp"
#include "ortdiffusion/scheduling_pndm.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace od = ortdiffusion;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
  }
}

template <typename Exception>
void check_throws(const std::function<void()>& fn, const std::string& needle, const std::string& what) {
  try {
    fn();
  } catch (const Exception& e) {
    check(std::string(e.what()).find(needle) != std::string::npos,
          what + ": message '" + e.what() + "' lacks '" + needle + "'");
    return;
  }
  check(false, what + ": no exception");
}

const char* kSd15Config = R"({"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
  "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
  "steps_offset": 1, "trained_betas": null, "clip_sample": false})";

void test_generator() {
  od::Generator g(0);
  const auto small = g.randn(3);  // torch: the double Box-Muller path of small draws
  const double expected_small[] = {1.5409960746765137, -0.293428897857666, -2.1787893772125244};
  for (int i = 0; i < 3; ++i) check(small[i] == static_cast<float>(expected_small[i]), "randn(3) seed 0 [torch]");
  g.manual_seed(0);
  const auto big = g.randn(16);  // the 16-wide float Box-Muller path (value on AVX2/AVX512 and DEFAULT alike)
  check(std::fabs(big[0] - (-1.1258398294448853f)) < 1e-6f, "randn(16)[0] seed 0 [torch]");
  od::Generator a(5), b(5);
  a.randn(3);
  b.randn(3);
  check(a.randn(7) == b.randn(7), "same seed, same stream (cached normal included)");
}

void test_timesteps() {
  using od::TimestepSpacing;
  const auto leading = od::spaced_timesteps(TimestepSpacing::Leading, 1000, 10, 1);
  check(leading.front() == 901 && leading.back() == 1 && leading.size() == 10, "leading 1000/10 offset 1");
  const auto trailing = od::spaced_timesteps(TimestepSpacing::Trailing, 1000, 10, 0);
  check(trailing.front() == 999 && trailing.back() == 99, "trailing 1000/10");
  const auto linspace = od::spaced_timesteps(TimestepSpacing::Linspace, 1000, 4, 0);
  check(linspace == std::vector<int64_t>({999, 666, 333, 0}), "linspace 1000/4 rounds half to even");
  check_throws<od::ArgumentError>([] { od::spaced_timesteps(TimestepSpacing::Leading, 1000, 1001, 0); },
                                  "cannot be larger than num_train_timesteps", "n > T");
}

void test_config() {
  const auto c = od::parse_ddim_config(kSd15Config, "sd15");
  check(c.beta_schedule == od::BetaSchedule::ScaledLinear && c.steps_offset == 1 && !c.set_alpha_to_one &&
            !c.clip_sample && !c.trained_betas && c.prediction_type == od::PredictionType::Epsilon,
        "SD 1.5 PNDM config parsed as DDIM");
  check_throws<od::ConfigError>([] { od::parse_ddim_config("{\"beta_schedule\": \"cos\"}", "x.json"); },
                                "x.json: beta_schedule 'cos' is not supported; expected one of 'linear'",
                                "unknown beta_schedule");
  check_throws<od::ConfigError>([] { od::parse_ddim_config("{", "y.json"); }, "y.json: not valid JSON", "bad JSON");
  check_throws<od::ConfigError>([] { od::load_ddim_config("/nonexistent/scheduler_config.json"); }, "cannot open",
                                "missing file");
  const auto round_trip = od::parse_ddim_config(od::to_json(c));
  check(od::to_json(round_trip) == od::to_json(c), "to_json round trip");
}

void test_step_recovers_x0_from_exact_noise() {
  od::DDIMScheduler s(od::parse_ddim_config(kSd15Config));
  s.set_timesteps(50);
  const od::Shape shape = {1, 4, 8, 8};
  const int64_t n = od::shape_numel(shape);
  od::Generator g(1);
  const auto x0 = g.randn(n);
  const auto eps = g.randn(n);
  std::vector<float> x_t(n), prev(n), pred_x0(n);
  const int64_t t = s.timesteps()[5];
  s.add_noise(x0.data(), eps.data(), shape, &t, 1, x_t.data());
  s.step(eps.data(), t, x_t.data(), shape, od::DDIMStepOptions<float>{}, prev.data(), pred_x0.data());
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, static_cast<double>(std::fabs(pred_x0[i] - x0[i])));
  check(worst < 1e-4, "eps-prediction recovers x_0 from q(x_t|x_0) with the true noise");
  check_throws<od::ArgumentError>(
      [&] { s.step(eps.data(), t, x_t.data(), shape, od::DDIMStepOptions<float>{}, x_t.data(), pred_x0.data()); },
      "must not overlap", "aliased output");
  check_throws<od::ArgumentError>(
      [&] { s.step(eps.data(), 1000, x_t.data(), shape, od::DDIMStepOptions<float>{}, prev.data(), pred_x0.data()); },
      "outside the noise schedule", "timestep out of range");
}

// A ModelProto with one float32 initializer "w" of dims [2], written byte by byte from onnx.proto's field
// numbers: graph (7) { initializer (5) { dims (1), data_type (2), name (8), raw_data (9) } },
// opset_import (8) { version (2) = 17 }.
std::vector<std::byte> tiny_model() {
  const uint8_t raw[] = {0x3a, 0x13, 0x2a, 0x11, 0x08, 0x02, 0x10, 0x01, 0x42, 0x01, 'w', 0x4a, 0x08,
                         0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,  // 1.0f, -2.0f
                         0x42, 0x02, 0x10, 0x11};
  std::vector<std::byte> out(sizeof(raw));
  for (std::size_t i = 0; i < sizeof(raw); ++i) out[i] = static_cast<std::byte>(raw[i]);
  return out;
}

void test_initializer_reader() {
  const auto bytes = std::make_shared<std::vector<std::byte>>(tiny_model());
  const auto inits = od::read_initializers_from_memory(bytes, "tiny", "");
  check(inits.size() == 1 && inits[0].name == "w" && inits[0].dims == std::vector<int64_t>{2} &&
            inits[0].data_type == od::OnnxDataType::kFloat && inits[0].size_bytes == 8,
        "hand-written model: one float32 initializer w[2]");
  if (inits.size() == 1) {
    float values[2];
    std::memcpy(values, inits[0].data, 8);
    check(values[0] == 1.0f && values[1] == -2.0f, "raw_data viewed in place");
    check(inits[0].data == bytes->data() + 13, "zero copy: the view points into the input bytes");
  }
  // every strict prefix cuts the graph short or loses opset_import: always a FormatError, never a crash
  for (std::size_t cut = 0; cut < bytes->size(); ++cut) {
    auto prefix = std::make_shared<std::vector<std::byte>>(bytes->begin(), bytes->begin() + cut);
    check_throws<od::FormatError>([&] { od::read_initializers_from_memory(prefix, "tiny", ""); }, "tiny",
                                  "prefix of " + std::to_string(cut) + " bytes");
  }
  auto wrong_size = std::make_shared<std::vector<std::byte>>(*bytes);
  (*wrong_size)[5] = static_cast<std::byte>(3);  // dims [3] for 8 bytes of data
  check_throws<od::FormatError>([&] { od::read_initializers_from_memory(wrong_size, "tiny", ""); },
                                "raw_data has 8 bytes", "raw_data size must match dims");
  check_throws<od::ExternalDataError>([] { od::resolve_external_location("/tmp", "../etc/passwd", "w"); },
                                      "'..' component", "external location escaping the folder");
  check_throws<od::ExternalDataError>([] { od::resolve_external_location("/tmp", "/etc/passwd", "w"); },
                                      "is absolute", "absolute external location");
}

void test_lora_merge() {
  // W [2, 3] + 0.5 * up [2, 1] @ down [1, 3], and the same through the transposed layout
  const float w[6] = {1, 2, 3, 4, 5, 6};
  const float up[2] = {1, -1};
  const float down[3] = {2, 0, 4};
  const std::vector<od::LoraFactor> factors = {{up, down, 1, 0.5f}};
  float out[6];
  od::merge_lora(w, 2, 3, false, factors, out);
  const float expected[6] = {2, 2, 5, 3, 5, 4};
  bool same = true;
  for (int i = 0; i < 6; ++i) same = same && out[i] == expected[i];
  check(same, "merge_lora: W + s * up @ down");
  const float wt[6] = {1, 4, 2, 5, 3, 6};  // W^T [3, 2]
  od::merge_lora(wt, 3, 2, true, factors, out);
  const float expected_t[6] = {2, 3, 2, 5, 5, 4};
  same = true;
  for (int i = 0; i < 6; ++i) same = same && out[i] == expected_t[i];
  check(same, "merge_lora on W^T gives (W + s * up @ down)^T");
  check_throws<od::ArgumentError>([&] { od::merge_lora(w, 2, 3, false, {{up, down, 0, 1.0f}}, out); },
                                  "rank must be positive", "zero rank");
}

// On Linux x86 the kernel's own CPUID reading (the flags of /proc/cpuinfo) must agree with ours.
void test_cpu_int8_dot_products() {
  const od::Int8DotProducts kind = od::cpu_int8_dot_products();
#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__))
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  bool vnni = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0) {
      vnni = line.find(" avx512_vnni") != std::string::npos || line.find(" avx_vnni") != std::string::npos;
      break;
    }
  }
  check(kind == (vnni ? od::Int8DotProducts::X86Vnni : od::Int8DotProducts::X86Saturating),
        "cpu_int8_dot_products agrees with /proc/cpuinfo's vnni flags");
#elif !(defined(__x86_64__) || defined(__i386__))
  check(kind == od::Int8DotProducts::NotX86, "cpu_int8_dot_products on another architecture");
#else
  (void)kind;  // x86 outside Linux: no second opinion to compare with
#endif
}

// A stock SD 1.5 scheduler_config.json drives PNDM (PLMS) from C++ alone: diffusers' timesteps (the
// second-to-last repeated), and the history-based steps stay finite and move toward the prediction.
void test_pndm_from_config() {
  od::PNDMScheduler s(od::parse_pndm_config(kSd15Config, "sd15"));
  s.set_timesteps(50);
  const auto& t = s.timesteps();
  check(t.size() == 51 && t[0] == 981 && t[1] == 961 && t[2] == 961 && t[3] == 941 && t.back() == 1,
        "PLMS timesteps 981 961 961 941 ... 1 [diffusers]");
  const od::Shape shape = {1, 4, 2, 2};
  std::vector<float> x(16, 1.0f), eps(16, 0.0f), prev(16);
  for (int64_t step : t) {
    s.step<float>(eps.data(), step, x.data(), shape, prev.data());
    x = prev;
  }
  check(std::isfinite(x[0]) && s.counter() == 51, "a whole PLMS loop runs and counts its steps");
  check_throws<od::ArgumentError>([&] { s.step<double>(nullptr, 1, nullptr, shape, nullptr); }, "started with float32",
                                  "dtype change mid-loop");
  od::PNDMScheduler prk(od::parse_pndm_config("{}"));
  check_throws<od::ArgumentError>([&] { prk.set_timesteps(3); }, "needs at least 4 inference steps", "PRK with 3 steps");
  check_throws<od::ConfigError>([] { od::parse_pndm_config(R"({"prediction_type": "sample"})", "p.json"); },
                                "not supported by PNDMScheduler", "PNDM refuses sample prediction");
}

// Euler from a config: x_t = x_0 + sigma eps with the exact eps predicted recovers x_0 and lands on
// x_0 + sigma_next eps (the ODE step is exact for a constant derivative).
void test_euler_from_config() {
  od::EulerDiscreteScheduler s(od::parse_euler_config(kSd15Config, "sd15", /*ancestral=*/false));
  s.set_timesteps(10);
  check(s.stepper().timesteps().front() == 999.0f && s.stepper().sigmas().back() == 0.0f &&
            s.stepper().sigmas().size() == 11,
        "Euler linspace timesteps start at 999 and sigmas end with 0");
  const od::Shape shape = {1, 1, 2, 2};
  const std::vector<float> x0 = {0.5f, -0.25f, 1.0f, 0.0f}, eps = {1.0f, -1.0f, 0.5f, 2.0f};
  const float sigma = s.stepper().sigmas()[0], next = s.stepper().sigmas()[1];
  std::vector<float> xt(4), prev(4), pred(4);
  for (int i = 0; i < 4; ++i) xt[i] = x0[i] + sigma * eps[i];
  s.step<float>(eps.data(), s.stepper().timesteps()[0], xt.data(), shape, od::EulerStepOptions<float>{}, prev.data(),
                pred.data());
  bool ok = true;
  for (int i = 0; i < 4; ++i) {
    ok = ok && std::fabs(pred[i] - x0[i]) < 1e-4f * sigma && std::fabs(prev[i] - (x0[i] + next * eps[i])) < 1e-4f * sigma;
  }
  check(ok, "Euler step with the exact noise recovers x0 and lands on x0 + sigma_next eps");
  s.set_timesteps(10);  // a new loop: its first timestep is looked up in the schedule (later ones follow the index)
  check_throws<od::ArgumentError>(
      [&] { s.step<float>(eps.data(), 123.5, xt.data(), shape, {}, prev.data(), pred.data()); },
      "not one of this schedule's", "Euler timestep outside the schedule");
  // beta sigmas: from the largest training sigma down to the smallest, decreasing
  od::EulerDiscreteScheduler beta(od::parse_euler_config(R"({"use_beta_sigmas": true})", "e.json", false));
  beta.set_timesteps(8);
  const auto& bs = beta.stepper().sigmas();
  bool decreasing = bs.size() == 9 && bs.back() == 0.0f;
  for (size_t i = 1; i + 1 < bs.size(); ++i) decreasing = decreasing && bs[i] < bs[i - 1];
  check(decreasing, "beta sigmas: 8 decreasing levels, then 0");
  // Euler ancestral: the same seed gives the same step
  od::EulerAncestralDiscreteScheduler a(od::parse_euler_config(kSd15Config, "sd15", true));
  od::EulerAncestralDiscreteScheduler b(od::parse_euler_config(kSd15Config, "sd15", true));
  a.set_timesteps(5);
  b.set_timesteps(5);
  od::Generator ga(3), gb(3);
  std::vector<float> pa(4), pb(4), xa(4), xb(4);
  a.step<float>(eps.data(), a.stepper().timesteps()[0], xt.data(), shape, nullptr, &ga, pa.data(), xa.data());
  b.step<float>(eps.data(), b.stepper().timesteps()[0], xt.data(), shape, nullptr, &gb, pb.data(), xb.data());
  check(pa == pb, "Euler ancestral: same seed, same step");
}

// MKL's AVX-512 sqrt: exact on perfect squares and specials, otherwise IEEE sqrt or one ulp below it.
void test_mkl_avx512_sqrt() {
  check(od::mkl_avx512_sqrt(4.0f) == 2.0f && od::mkl_avx512_sqrt(0.25f) == 0.5f && od::mkl_avx512_sqrt(9.0f) == 3.0f,
        "perfect squares");
  check(od::mkl_avx512_sqrt(0.0f) == 0.0f && std::isinf(od::mkl_avx512_sqrt(INFINITY)) &&
            std::isnan(od::mkl_avx512_sqrt(-1.0f)),
        "specials");
  int below = 0, other = 0;
  for (uint32_t k = 0; k < (1u << 20); ++k) {
    float x;
    const uint32_t bits = 0x3f000000u + k * 16u;  // [0.5, 2)
    std::memcpy(&x, &bits, sizeof x);
    const float ours = od::mkl_avx512_sqrt(x), ieee = std::sqrt(x);
    if (ours != ieee) (std::nextafter(ieee, 0.0f) == ours ? below : other)++;
  }
  check(other == 0 && below > 0 && below < (1 << 20) / 50, "within one ulp below IEEE sqrt, on under 2% of inputs");
  const float y = od::torch_sqrt(2.0f);
  check(y == od::mkl_avx512_sqrt(2.0f) || y == std::sqrt(2.0f), "torch_sqrt is one of the two");
}

// The schedulers added for AUTOMATIC1111's sampler names, each driven from a config alone.
void test_more_schedulers_from_config() {
  // the beta quantile inverts the regularized incomplete beta; Beta(0.6, 0.6) is symmetric about 1/2
  check(std::fabs(od::inverse_regularized_incomplete_beta(0.6, 0.6, 0.5) - 0.5) < 1e-15, "beta median 1/2");
  bool inverse_ok = true;
  for (double p : {1e-6, 0.01, 0.3, 0.77, 0.999999}) {
    const double x = od::inverse_regularized_incomplete_beta(0.6, 0.6, p);
    inverse_ok = inverse_ok && std::fabs(od::regularized_incomplete_beta(0.6, 0.6, x) - p) < 1e-12 * std::max(p, 1e-3);
  }
  check(inverse_ok, "I_x(a, b) at the inverse gives p back");
  // LMS: the first-order coefficient integrates 1 from sigma_t to sigma_{t+1}
  od::LMSDiscreteScheduler lms(od::parse_lms_config(kSd15Config, "sd15"));
  lms.set_timesteps(10);
  const auto& ls = lms.stepper().sigmas();
  check(std::fabs(lms.lms_coefficient(1, 3, 0) - (static_cast<double>(ls[4]) - ls[3])) < 1e-12 * ls[3],
        "LMS order-1 coefficient = sigma_{t+1} - sigma_t");
  // KDPM2: two calls per step but the last; a whole loop stays finite
  od::KDPM2DiscreteScheduler kdpm2(od::parse_kdpm2_config(kSd15Config, "sd15", "KDPM2DiscreteScheduler"));
  kdpm2.set_timesteps(5);
  const od::Shape shape = {1, 4, 2, 2};
  std::vector<float> x(16, 1.0f), eps(16, 0.5f), prev(16), x0(16);
  const std::vector<float> kt = kdpm2.stepper().timesteps();
  for (float t : kt) {
    kdpm2.step<float>(eps.data(), t, x.data(), shape, prev.data(), x0.data());
    x = prev;
  }
  // t0, then (midpoint, t_i) pairs: the last call is a first half whose midpoint call never comes
  check(kt.size() == 9 && std::isfinite(x[0]) && !kdpm2.state_in_first_order(), "a KDPM2 loop: 9 calls, finite");
  // TCD: LCM's distillation schedule (50 original steps, every 20th training timestep)
  od::TCDScheduler tcd(od::parse_lcm_config("{}", "tcd.json"));
  tcd.set_timesteps(4);
  const auto& tt = tcd.timesteps();
  check(tt.size() == 4 && tt[0] == 999 && tt[1] == 759 && tt[2] == 499 && tt[3] == 259, "TCD timesteps 999 759 499 259");
  // DPM-Solver singlestep: 7 steps of order 2 alternate 1, 2 and end at order 1, lower_order_final switched on
  od::DPMSolverSinglestepScheduler single(od::parse_dpmsolver_singlestep_config(R"({"final_sigmas_type": "sigma_min"})"));
  single.set_timesteps(7);
  check(single.order_list() == std::vector<int>({1, 2, 1, 2, 1, 2, 1}) && single.config().lower_order_final,
        "singlestep order list 1 2 1 2 1 2 1 with lower_order_final");
}

}  // namespace

int main() {
  test_cpu_int8_dot_products();
  test_generator();
  test_timesteps();
  test_config();
  test_step_recovers_x0_from_exact_noise();
  test_mkl_avx512_sqrt();
  test_pndm_from_config();
  test_euler_from_config();
  test_more_schedulers_from_config();
  test_initializer_reader();
  test_lora_merge();
  if (failures == 0) std::printf("ortdiffusion core: all checks passed\n");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
