// Noise schedules, mirroring diffusers.schedulers.scheduling_ddim (betas_for_alpha_bar,
// rescale_zero_terminal_snr, DDIMScheduler.__init__ / set_timesteps) and the torch / numpy kernels
// those functions call, so that every number comes out as diffusers computes it.
#include "ortdiffusion/noise_schedule.hpp"

#include <cmath>
#include <utility>

#include "enum_table.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/torch_cpu_capability.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {
namespace {

// One table per enum: the parser, the printer and the error message all read it.
const std::pair<const char*, BetaSchedule> kBetaSchedules[] = {
    {"linear", BetaSchedule::Linear},
    {"scaled_linear", BetaSchedule::ScaledLinear},
    {"squaredcos_cap_v2", BetaSchedule::SquaredCosCapV2},
};
const std::pair<const char*, BetaSchedule> kBetaSchedulesWithExp[] = {
    {"linear", BetaSchedule::Linear},
    {"scaled_linear", BetaSchedule::ScaledLinear},
    {"squaredcos_cap_v2", BetaSchedule::SquaredCosCapV2},
    {"exp", BetaSchedule::Exp},
};
const std::pair<const char*, TimestepSpacing> kSpacings[] = {
    {"leading", TimestepSpacing::Leading},
    {"trailing", TimestepSpacing::Trailing},
    {"linspace", TimestepSpacing::Linspace},
};

// numpy's round(): half to even (the default floating-point rounding mode).
double round_half_even(double x) { return std::nearbyint(x); }

}  // namespace

BetaSchedule parse_beta_schedule(const std::string& name) { return detail::parse_enum(kBetaSchedules, name, "beta_schedule"); }
BetaSchedule parse_beta_schedule_with_exp(const std::string& name) {
  return detail::parse_enum(kBetaSchedulesWithExp, name, "beta_schedule");
}
std::string to_string(BetaSchedule schedule) { return detail::enum_name(kBetaSchedulesWithExp, schedule); }
TimestepSpacing parse_timestep_spacing(const std::string& name) {
  return detail::parse_enum(kSpacings, name, "timestep_spacing");
}
std::string to_string(TimestepSpacing spacing) { return detail::enum_name(kSpacings, spacing); }

std::vector<float> torch_linspace_f32(double start_value, double end_value, int64_t steps) {
  if (steps <= 0) return {};
  const float start = static_cast<float>(start_value);
  if (steps == 1) return {start};  // ATen linspace_out: fill_(start)
  const float end = static_cast<float>(end_value);
  // ATen linspace_kernel: step = (end - start) / (steps - 1) in float; index i < steps/2 counts
  // from start (start + step * i), the rest from end (end - step * (steps - i - 1)). torch's AVX2 and
  // AVX512 kernels are built with FMA and contract each of those into one fused multiply-add.
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  const bool fused = torch_cpu_capability() != TorchCpuCapability::Default;
  std::vector<float> out(static_cast<size_t>(steps));
  for (int64_t i = 0; i < steps; ++i) {
    if (i < halfway) {
      const auto k = static_cast<float>(i);
      out[i] = fused ? std::fma(step, k, start) : start + step * k;
    } else {
      const auto k = static_cast<float>(steps - i - 1);
      out[i] = fused ? std::fma(-step, k, end) : end - step * k;
    }
  }
  return out;
}

namespace {

// diffusers' betas_for_alpha_bar: beta_i = min(1 - alpha_bar(t_{i+1}) / alpha_bar(t_i), max_beta) in float64.
template <typename AlphaBar>
std::vector<float> betas_for_alpha_bar(int64_t num_diffusion_timesteps, double max_beta, AlphaBar alpha_bar) {
  std::vector<float> betas(static_cast<size_t>(num_diffusion_timesteps));
  const auto n = static_cast<double>(num_diffusion_timesteps);
  for (int64_t i = 0; i < num_diffusion_timesteps; ++i) {
    const double t1 = static_cast<double>(i) / n;
    const double t2 = static_cast<double>(i + 1) / n;
    betas[i] = static_cast<float>(std::min(1 - alpha_bar(t2) / alpha_bar(t1), max_beta));
  }
  return betas;
}

}  // namespace

std::vector<float> betas_for_alpha_bar_cosine(int64_t num_diffusion_timesteps, double max_beta) {
  const double pi = 3.141592653589793;  // math.pi
  // alpha_bar(t) = cos((t + 0.008) / 1.008 * pi / 2) ** 2  (Nichol & Dhariwal 2021, eq. 17)
  return betas_for_alpha_bar(num_diffusion_timesteps, max_beta,
                             [pi](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * pi / 2), 2.0); });
}

std::vector<float> betas_for_alpha_bar_exp(int64_t num_diffusion_timesteps, double max_beta) {
  // alpha_bar(t) = exp(-12 t) (diffusers' alpha_transform_type "exp")
  return betas_for_alpha_bar(num_diffusion_timesteps, max_beta, [](double t) { return std::exp(t * -12.0); });
}

std::vector<float> alphas_cumprod_from_betas(const std::vector<float>& betas) {
  std::vector<float> out(betas.size());
  double running = 1.0;  // acc_type<float, /*is_cuda=*/false> is double
  for (size_t i = 0; i < betas.size(); ++i) {
    const float alpha = 1.0f - betas[i];  // self.alphas = 1.0 - self.betas (float32)
    running *= alpha;
    out[i] = static_cast<float>(running);
  }
  return out;
}

std::vector<float> rescale_zero_terminal_snr(const std::vector<float>& betas) {
  const size_t n = betas.size();
  if (n < 2) throw ConfigError("rescale_betas_zero_snr needs at least 2 training timesteps");
  // Convert betas to alphas_bar_sqrt
  const std::vector<float> alphas_cumprod = alphas_cumprod_from_betas(betas);
  std::vector<float> alphas_bar_sqrt(n);
  for (size_t i = 0; i < n; ++i) alphas_bar_sqrt[i] = torch_sqrt(alphas_cumprod[i]);  // alphas_cumprod.sqrt()
  // Store old values.
  const float sqrt_0 = alphas_bar_sqrt[0];
  const float sqrt_T = alphas_bar_sqrt[n - 1];
  // Shift so the last timestep is zero, then scale so the first timestep is back to the old value.
  const float scale = sqrt_0 / (sqrt_0 - sqrt_T);
  for (auto& v : alphas_bar_sqrt) {
    v -= sqrt_T;
    v *= scale;
  }
  // Convert alphas_bar_sqrt to betas: alphas_bar = sqrt**2; alphas = bar[1:] / bar[:-1]; betas = 1 - alphas
  std::vector<float> alphas_bar(n);
  for (size_t i = 0; i < n; ++i) alphas_bar[i] = alphas_bar_sqrt[i] * alphas_bar_sqrt[i];
  std::vector<float> out(n);
  out[0] = 1.0f - alphas_bar[0];
  for (size_t i = 1; i < n; ++i) out[i] = 1.0f - alphas_bar[i] / alphas_bar[i - 1];
  return out;
}

std::vector<float> make_betas(BetaSchedule schedule, double beta_start, double beta_end,
                              int64_t num_train_timesteps, const std::vector<double>* trained_betas,
                              bool rescale_betas_zero_snr) {
  std::vector<float> betas;
  if (trained_betas != nullptr) {
    betas.reserve(trained_betas->size());
    for (double b : *trained_betas) betas.push_back(static_cast<float>(b));
  } else {
    switch (schedule) {
      case BetaSchedule::Linear:
        betas = torch_linspace_f32(beta_start, beta_end, num_train_timesteps);
        break;
      case BetaSchedule::ScaledLinear:
        // "very specific to the latent diffusion model": linspace of sqrt(beta), squared.
        betas = torch_linspace_f32(std::pow(beta_start, 0.5), std::pow(beta_end, 0.5), num_train_timesteps);
        for (auto& b : betas) b = b * b;
        break;
      case BetaSchedule::SquaredCosCapV2:
        betas = betas_for_alpha_bar_cosine(num_train_timesteps);
        break;
      case BetaSchedule::Exp:
        betas = betas_for_alpha_bar_exp(num_train_timesteps);
        break;
    }
  }
  if (rescale_betas_zero_snr) betas = rescale_zero_terminal_snr(betas);
  return betas;
}

std::vector<int64_t> spaced_timesteps(TimestepSpacing spacing, int64_t num_train_timesteps,
                                      int64_t num_inference_steps, int64_t steps_offset) {
  if (num_inference_steps < 1) {
    throw ArgumentError("num_inference_steps must be at least 1, got " + std::to_string(num_inference_steps));
  }
  if (num_inference_steps > num_train_timesteps) {
    throw ArgumentError("num_inference_steps (" + std::to_string(num_inference_steps) +
                        ") cannot be larger than num_train_timesteps (" + std::to_string(num_train_timesteps) +
                        "): the model was trained on that many timesteps only");
  }
  const int64_t T = num_train_timesteps;
  const int64_t n = num_inference_steps;
  std::vector<int64_t> out;
  switch (spacing) {
    case TimestepSpacing::Linspace: {
      // np.linspace(0, T - 1, n).round()[::-1]: y_i = i * ((T-1)/(n-1)), last element exactly T-1
      const double delta = static_cast<double>(T - 1);
      const double div = static_cast<double>(n - 1);
      // (n == 1: div == 0 and numpy gives y = [0]; n > 1 implies T - 1 >= 1, so step > 0.)
      const double step = n > 1 ? delta / div : 0.0;
      out.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        double y = static_cast<double>(i) * step;
        if (n > 1 && i == n - 1) y = delta;  // endpoint: y[-1] = stop
        out[static_cast<size_t>(n - 1 - i)] = static_cast<int64_t>(round_half_even(y));
      }
      break;
    }
    case TimestepSpacing::Leading: {
      // step_ratio = T // n; (arange(0, n) * step_ratio)[::-1] + steps_offset
      const int64_t step_ratio = T / n;
      out.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(n - 1 - i)] = i * step_ratio + steps_offset;
      break;
    }
    case TimestepSpacing::Trailing: {
      // np.round(np.arange(T, 0, -T / n)) - 1, with numpy's arange rules: length
      // ceil((stop - start) / step), values start + i * ((start + step) - start).
      const double step = -(static_cast<double>(T) / static_cast<double>(n));
      const double start = static_cast<double>(T);
      const double length_f = std::ceil((0.0 - start) / step);
      const auto length = static_cast<int64_t>(length_f);
      const double delta = (start + step) - start;
      out.resize(static_cast<size_t>(length));
      for (int64_t i = 0; i < length; ++i) {
        const double value = i == 0 ? start : (i == 1 ? start + step : start + static_cast<double>(i) * delta);
        out[static_cast<size_t>(i)] = static_cast<int64_t>(round_half_even(value)) - 1;
      }
      break;
    }
  }
  return out;
}

}  // namespace ortdiffusion
