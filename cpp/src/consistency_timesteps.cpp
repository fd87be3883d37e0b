// consistency_timesteps.hpp: LCMScheduler.set_timesteps / TCDScheduler.set_timesteps of diffusers.
#include "ortdiffusion/consistency_timesteps.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {

std::vector<int64_t> distillation_timesteps(int64_t T, int64_t original_steps, double strength,
                                            bool every_train_timestep) {
  std::vector<int64_t> origin;
  if (every_train_timestep) {
    const auto count = static_cast<int64_t>(static_cast<double>(T) * strength);
    for (int64_t t = 0; t < count; ++t) origin.push_back(t);
    return origin;
  }
  if (original_steps > T) {
    throw ArgumentError("`original_steps`: " + std::to_string(original_steps) +
                        " cannot be larger than num_train_timesteps: " + std::to_string(T));
  }
  // k = T // original_steps; t_i = i * k - 1 for i = 1 .. int(original_steps * strength)
  const int64_t k = T / original_steps;
  const auto count = static_cast<int64_t>(static_cast<double>(original_steps) * strength);
  for (int64_t i = 1; i <= count; ++i) origin.push_back(i * k - 1);
  return origin;
}

std::vector<int64_t> pick_consistency_timesteps(const std::vector<int64_t>& origin, int64_t n, int64_t T,
                                                int64_t original_steps, double strength) {
  if (n < 1) throw ArgumentError("num_inference_steps must be at least 1, got " + std::to_string(n));
  if (n > T) {
    throw ArgumentError("`num_inference_steps`: " + std::to_string(n) + " cannot be larger than num_train_timesteps: " +
                        std::to_string(T));
  }
  const auto count = static_cast<int64_t>(origin.size());
  if (count / n < 1) {
    throw ArgumentError("The combination of original_inference_steps x strength (" + std::to_string(original_steps) +
                        " x " + std::to_string(strength) + ") is smaller than num_inference_steps (" +
                        std::to_string(n) + "): use at most " + std::to_string(count) + " steps or a higher strength");
  }
  if (n > original_steps) {
    throw ArgumentError("`num_inference_steps`: " + std::to_string(n) +
                        " cannot be larger than `original_inference_steps`: " + std::to_string(original_steps));
  }
  // origin[::-1][floor(np.linspace(0, len, num=n, endpoint=False))]
  std::vector<int64_t> out;
  const double step = static_cast<double>(count) / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    const auto j = static_cast<int64_t>(std::floor(static_cast<double>(i) * step));
    out.push_back(origin[static_cast<size_t>(count - 1 - j)]);
  }
  return out;
}

std::vector<int64_t> custom_consistency_timesteps(const std::vector<int64_t>& timesteps, int64_t T, double strength) {
  if (timesteps.empty()) throw ArgumentError("timesteps must not be empty");
  for (size_t i = 1; i < timesteps.size(); ++i) {
    if (timesteps[i] >= timesteps[i - 1]) throw ArgumentError("`custom_timesteps` must be in descending order.");
  }
  if (timesteps[0] >= T || timesteps.back() < 0) {
    throw ArgumentError("`timesteps` must lie in [0, " + std::to_string(T) + ")");
  }
  const auto n = static_cast<int64_t>(timesteps.size());
  const int64_t init_timestep = std::min(static_cast<int64_t>(static_cast<double>(n) * strength), n);
  const int64_t t_start = std::max<int64_t>(n - init_timestep, 0);
  return {timesteps.begin() + t_start, timesteps.end()};
}

int64_t index_in_schedule(const std::vector<int64_t>& timesteps, int64_t timestep) {
  const auto first = std::find(timesteps.begin(), timesteps.end(), timestep);
  if (first == timesteps.end()) {
    throw ArgumentError("timestep " + std::to_string(timestep) + " is not one of this schedule's " +
                        std::to_string(timesteps.size()) + " timesteps; pass a value of scheduler.timesteps");
  }
  const auto second = std::find(first + 1, timesteps.end(), timestep);
  return (second != timesteps.end() ? second : first) - timesteps.begin();
}

}  // namespace ortdiffusion
