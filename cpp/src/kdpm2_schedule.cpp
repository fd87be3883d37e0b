// kdpm2_schedule.hpp: the KDPM2 schedulers' shared set_timesteps pieces.
#include "kdpm2_schedule.hpp"

#include <cmath>

#include "config_reader.hpp"
#include "ortdiffusion/sigma_schedule.hpp"

namespace ortdiffusion::detail {

KDPM2BaseSchedule kdpm2_base_schedule(const KDPM2Config& config, const std::vector<float>& train_sigmas,
                                      const std::vector<float>& log_sigmas, int64_t n) {
  KDPM2BaseSchedule out;
  out.timesteps = float_timesteps(config.timestep_spacing, static_cast<int64_t>(train_sigmas.size()), n, config.steps_offset);
  std::vector<double> sigmas = interp_by_index(out.timesteps, train_sigmas);
  const SigmaKind kind = sigma_kind(config);
  if (kind != SigmaKind::Plain) {
    sigmas = converted_sigmas(kind, sigmas.back(), sigmas.front(), n);
    out.timesteps.clear();
    for (double s : sigmas) {
      const double t = sigma_to_t(s, log_sigmas);
      out.timesteps.push_back(static_cast<float>(kind == SigmaKind::Karras ? std::nearbyint(t) : t));
    }
  }
  out.sigmas.assign(sigmas.begin(), sigmas.end());
  out.sigmas.push_back(0.0f);
  return out;
}

float log_midpoint(float a, float b) {
  const float start = std::log(a), end = std::log(b);
  return std::exp(end - (end - start) * 0.5f);
}

std::vector<float> repeat_interleave_inner(const std::vector<float>& x) {
  std::vector<float> out;
  if (x.empty()) return out;
  out.reserve(2 * x.size());
  out.push_back(x.front());
  for (size_t i = 1; i < x.size(); ++i) out.insert(out.end(), 2, x[i]);
  out.push_back(x.back());
  return out;
}

}  // namespace ortdiffusion::detail
