// Sigma schedules (sigma_schedule.hpp), mirroring diffusers' EulerDiscreteScheduler.__init__ /
// set_timesteps / _convert_to_karras / _convert_to_exponential / _sigma_to_t and the numpy kernels they
// call (linspace, interp, log), in the precision each uses.
#include "ortdiffusion/sigma_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/incomplete_beta.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

std::vector<float> sigma_alphas_cumprod(const std::vector<float>& betas, bool rescale_betas_zero_snr) {
  std::vector<float> alphas_cumprod = alphas_cumprod_from_betas(betas);
  // Close to 0 without being 0 so the first sigma is not inf (FP16 smallest positive subnormal).
  if (rescale_betas_zero_snr && !alphas_cumprod.empty()) alphas_cumprod.back() = std::ldexp(1.0f, -24);
  return alphas_cumprod;
}

std::vector<float> training_sigmas(const std::vector<float>& alphas_cumprod) {
  std::vector<float> out(alphas_cumprod.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = torch_sqrt((1.0f - alphas_cumprod[i]) / alphas_cumprod[i]);
  return out;
}

std::vector<double> numpy_linspace(double start, double stop, int64_t num) {
  std::vector<double> y(static_cast<size_t>(std::max<int64_t>(num, 0)));
  if (num <= 0) return y;
  const double div = static_cast<double>(num - 1);
  const double delta = stop - start;
  const double step = num > 1 ? delta / div : delta;
  for (int64_t i = 0; i < num; ++i) {
    // numpy: y = arange(num) * step + start (or arange / div * delta when step == 0)
    y[i] = (step == 0 && num > 1 ? static_cast<double>(i) / div * delta : static_cast<double>(i) * step) + start;
  }
  if (num > 1) y[num - 1] = stop;
  return y;
}

std::vector<float> float_timesteps(TimestepSpacing spacing, int64_t num_train_timesteps, int64_t num_inference_steps,
                                   int64_t steps_offset) {
  if (num_inference_steps < 1) {
    throw ArgumentError("num_inference_steps must be at least 1, got " + std::to_string(num_inference_steps));
  }
  if (spacing == TimestepSpacing::Linspace) {
    // np.linspace(0, T - 1, n, dtype=np.float32)[::-1]: computed in float64, cast to float32
    const std::vector<double> y = numpy_linspace(0.0, static_cast<double>(num_train_timesteps - 1), num_inference_steps);
    return std::vector<float>(y.rbegin(), y.rend());
  }
  // "leading" and "trailing" are DDIM's integers (leading: + steps_offset; trailing: - 1), as float32
  const std::vector<int64_t> whole = spaced_timesteps(spacing, num_train_timesteps, num_inference_steps, steps_offset);
  return std::vector<float>(whole.begin(), whole.end());
}

std::vector<double> interp_by_index(const std::vector<float>& x, const std::vector<float>& fp) {
  const auto n = static_cast<int64_t>(fp.size());
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double xv = x[i];
    if (std::isnan(xv)) {
      out[i] = xv;
    } else if (xv >= static_cast<double>(n - 1)) {
      out[i] = fp[n - 1];  // right end (and beyond): fp[-1]
    } else if (xv < 0.0) {
      out[i] = fp[0];
    } else {
      const auto j = static_cast<int64_t>(std::floor(xv));
      const double slope = (static_cast<double>(fp[j + 1]) - static_cast<double>(fp[j])) /
                           (static_cast<double>(j + 1) - static_cast<double>(j));
      double value = slope * (xv - static_cast<double>(j)) + static_cast<double>(fp[j]);
      if (std::isnan(value)) value = slope * (xv - static_cast<double>(j + 1)) + static_cast<double>(fp[j + 1]);
      out[i] = value;
    }
  }
  return out;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n, double rho) {
  const std::vector<double> ramp = numpy_linspace(0.0, 1.0, n);
  const double min_inv_rho = std::pow(sigma_min, 1.0 / rho);
  const double max_inv_rho = std::pow(sigma_max, 1.0 / rho);
  std::vector<double> out(ramp.size());
  for (size_t i = 0; i < ramp.size(); ++i) out[i] = std::pow(max_inv_rho + ramp[i] * (min_inv_rho - max_inv_rho), rho);
  return out;
}

std::vector<double> exponential_sigmas(double sigma_min, double sigma_max, int64_t n) {
  std::vector<double> out = numpy_linspace(std::log(sigma_max), std::log(sigma_min), n);
  for (double& v : out) v = std::exp(v);
  return out;
}

std::vector<double> beta_sigmas(double sigma_min, double sigma_max, int64_t n, double alpha, double beta) {
  std::vector<double> out = numpy_linspace(0.0, 1.0, n);
  for (double& v : out) v = sigma_min + inverse_regularized_incomplete_beta(alpha, beta, 1.0 - v) * (sigma_max - sigma_min);
  return out;
}

std::vector<double> converted_sigmas(SigmaKind kind, double sigma_min, double sigma_max, int64_t n) {
  switch (kind) {
    case SigmaKind::Karras:
      return karras_sigmas(sigma_min, sigma_max, n);
    case SigmaKind::Exponential:
      return exponential_sigmas(sigma_min, sigma_max, n);
    case SigmaKind::Beta:
      return beta_sigmas(sigma_min, sigma_max, n);
    case SigmaKind::Plain:
      break;
  }
  throw ArgumentError("converted_sigmas: no conversion for the plain sigma schedule");
}

double sigma_to_t_f32(float sigma, const std::vector<float>& log_sigmas) {
  const auto n = static_cast<int64_t>(log_sigmas.size());
  if (n < 2) throw ArgumentError("sigma_to_t needs at least 2 training timesteps");
  const float log_sigma = std::log(std::max(sigma, 1e-10f));
  int64_t count = 0, best = -1, low_idx = 0;
  for (int64_t i = 0; i < n; ++i) {
    count += (log_sigma - log_sigmas[i]) >= 0.0f ? 1 : 0;
    if (count > best) best = count, low_idx = i;
  }
  low_idx = std::min(low_idx, n - 2);
  const int64_t high_idx = low_idx + 1;
  const float low = log_sigmas[low_idx];
  const float high = log_sigmas[high_idx];
  const float w = std::clamp((low - log_sigma) / (low - high), 0.0f, 1.0f);
  return static_cast<double>(1.0f - w) * static_cast<double>(low_idx) + static_cast<double>(w) * static_cast<double>(high_idx);
}

std::tuple<std::vector<float>, std::vector<float>, std::vector<float>, std::vector<float>> training_sigma_tables(
    BetaSchedule schedule, double beta_start, double beta_end, int64_t num_train_timesteps,
    const std::optional<std::vector<double>>& trained_betas) {
  std::vector<float> betas = make_betas(schedule, beta_start, beta_end, num_train_timesteps,
                                        trained_betas ? &*trained_betas : nullptr, false);
  std::vector<float> alphas_cumprod = alphas_cumprod_from_betas(betas);
  std::vector<float> sigmas = training_sigmas(alphas_cumprod);
  std::vector<float> logs = log_f32(sigmas);
  return {std::move(betas), std::move(alphas_cumprod), std::move(sigmas), std::move(logs)};
}

VPCoefficients vp_coefficients(float sigma) {
  const float alpha = 1.0f / torch_sqrt(sigma * sigma + 1.0f);
  const float sigma_t = sigma * alpha;
  return {alpha, sigma_t, std::log(alpha) - std::log(sigma_t)};
}

std::vector<float> log_f32(const std::vector<float>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = std::log(values[i]);
  return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const auto n = static_cast<int64_t>(log_sigmas.size());
  if (n < 2) throw ArgumentError("sigma_to_t needs at least 2 training timesteps");
  // get log sigma
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  // get distribution: low_idx = cumsum(dists >= 0).argmax() clipped to n - 2, i.e. the last index whose
  // log_sigma - log_sigmas[i] >= 0 counted from the start (the first maximum of the running count)
  int64_t count = 0, best = -1, low_idx = 0;
  for (int64_t i = 0; i < n; ++i) {
    count += (log_sigma - static_cast<double>(log_sigmas[i])) >= 0 ? 1 : 0;
    if (count > best) best = count, low_idx = i;
  }
  low_idx = std::min(low_idx, n - 2);
  const int64_t high_idx = low_idx + 1;
  const float low = log_sigmas[low_idx];
  const float high = log_sigmas[high_idx];
  // interpolate sigmas: w = (low - log_sigma) / (low - high), low - high in float32
  double w = (static_cast<double>(low) - log_sigma) / static_cast<double>(low - high);
  w = std::clamp(w, 0.0, 1.0);
  // transform interpolation to time range
  return (1.0 - w) * static_cast<double>(low_idx) + w * static_cast<double>(high_idx);
}

std::vector<int64_t> solver_timesteps(TimestepSpacing spacing, int64_t last_timestep, int64_t num_train_timesteps,
                                      int64_t n, int64_t steps_offset) {
  if (n < 1) throw ArgumentError("num_inference_steps must be at least 1, got " + std::to_string(n));
  const auto round_even = [](double x) { return static_cast<int64_t>(std::nearbyint(x)); };
  std::vector<int64_t> timesteps;
  switch (spacing) {
    case TimestepSpacing::Linspace: {
      const std::vector<double> y = numpy_linspace(0.0, static_cast<double>(last_timestep - 1), n + 1);
      for (int64_t i = n; i >= 1; --i) timesteps.push_back(round_even(y[i]));
      break;
    }
    case TimestepSpacing::Leading: {
      const int64_t ratio = last_timestep / (n + 1);
      for (int64_t i = n; i >= 1; --i) timesteps.push_back(i * ratio + steps_offset);
      break;
    }
    case TimestepSpacing::Trailing: {
      // np.arange(start, 0, -step) with numpy's length and fill rule
      const double start = static_cast<double>(last_timestep);
      const double step = static_cast<double>(num_train_timesteps) / static_cast<double>(n);
      const auto length = static_cast<int64_t>(std::ceil((0.0 - start) / -step));
      const double delta = (start - step) - start;
      for (int64_t i = 0; i < length; ++i) {
        const double value = i == 0 ? start : (i == 1 ? start - step : start + static_cast<double>(i) * delta);
        timesteps.push_back(round_even(value) - 1);
      }
      break;
    }
  }
  return timesteps;
}

int64_t index_for_timestep(const std::vector<float>& schedule, double timestep) {
  int64_t first = -1;
  for (size_t i = 0; i < schedule.size(); ++i) {
    if (static_cast<double>(schedule[i]) == timestep) {
      if (first >= 0) return static_cast<int64_t>(i);  // pos = 1 if len(indices) > 1
      first = static_cast<int64_t>(i);
    }
  }
  if (first < 0) {
    std::ostringstream message;
    message << "timestep " << timestep << " is not one of this schedule's " << schedule.size()
            << " timesteps; pass a value of scheduler.timesteps (call set_timesteps first)";
    throw ArgumentError(message.str());
  }
  return first;
}

}  // namespace ortdiffusion
