// SigmaStepper (sigma_stepper.hpp): diffusers' _init_step_index / set_begin_index / scale_model_input /
// add_noise of the sigma-based schedulers, in float32 scalars like diffusers' 0-d tensors.
#include "ortdiffusion/sigma_stepper.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"
#include "sigma_step_kernels.hpp"

namespace ortdiffusion {

void SigmaStepper::reset(std::vector<float> timesteps, std::vector<float> sigmas) {
  timesteps_ = std::move(timesteps);
  sigmas_ = std::move(sigmas);
  step_index_.reset();
  begin_index_.reset();
}

void SigmaStepper::set_begin_index(int64_t begin_index) {
  if (begin_index < 0 || begin_index >= static_cast<int64_t>(timesteps_.size())) {
    throw ArgumentError("begin_index " + std::to_string(begin_index) + " is outside the schedule's " +
                        std::to_string(timesteps_.size()) + " steps");
  }
  begin_index_ = begin_index;
}

int64_t SigmaStepper::current_index(double timestep, bool missing_is_last) {
  if (!step_index_ && begin_index_) step_index_ = *begin_index_;
  if (!step_index_ && missing_is_last) {
    const auto count = std::count(timesteps_.begin(), timesteps_.end(), static_cast<float>(timestep));
    step_index_ = count == 0 ? static_cast<int64_t>(timesteps_.size()) - 1 : index_for_timestep(timesteps_, timestep);
  }
  if (!step_index_) step_index_ = index_for_timestep(timesteps_, timestep);
  if (*step_index_ + 1 >= static_cast<int64_t>(sigmas_.size())) {
    throw ArgumentError("the loop has taken all " + std::to_string(timesteps_.size()) +
                        " steps of this schedule; call set_timesteps to start a new one");
  }
  return *step_index_;
}

float SigmaStepper::init_noise_sigma(TimestepSpacing spacing) const {
  const float max_sigma = sigmas_.empty() ? 1.0f : *std::max_element(sigmas_.begin(), sigmas_.end());
  if (spacing == TimestepSpacing::Linspace || spacing == TimestepSpacing::Trailing) return max_sigma;
  return torch_sqrt(max_sigma * max_sigma + 1.0f);
}

template <typename T>
void SigmaStepper::scale_model_input(const T* sample, int64_t n, double timestep, T* out) {
  scale_by_sigma(sample, n, sigmas_[current_index(timestep)], out);
}

template <typename T>
void SigmaStepper::scale_by_sigma(const T* sample, int64_t n, float sigma, T* out) {
  const auto scale = static_cast<T>(torch_sqrt(sigma * sigma + 1.0f));
  detail::divide_elementwise(sample, n, scale, out);
}

template <typename T>
void SigmaStepper::add_noise(const T* original, const T* noise, const Shape& shape, const double* timesteps,
                             int64_t num_timesteps, T* out, bool variance_preserving) const {
  const int64_t n = shape_numel(shape);
  const int64_t batch = shape.empty() ? 1 : shape[0];
  if (num_timesteps != 1 && num_timesteps != batch) {
    throw ArgumentError("add_noise: got " + std::to_string(num_timesteps) + " timesteps for a batch of " +
                        std::to_string(batch) + " (shape " + shape_to_string(shape) +
                        "); pass one timestep per batch item or a single one");
  }
  const int64_t item = (num_timesteps == 1 || batch == 0) ? n : n / batch;
  for (int64_t k = 0; k < num_timesteps; ++k) {
    int64_t index;
    if (!begin_index_) {
      const bool missing = variance_preserving &&
                           std::count(timesteps_.begin(), timesteps_.end(), static_cast<float>(timesteps[k])) == 0;
      index = missing ? static_cast<int64_t>(timesteps_.size()) - 1 : index_for_timestep(timesteps_, timesteps[k]);
    } else {
      index = step_index_ ? *step_index_ : *begin_index_;
    }
    const auto sigma = static_cast<T>(sigmas_[index]);
    if (variance_preserving) {
      // alpha_t = 1 / ((sigma**2 + 1) ** 0.5), sigma_t = sigma * alpha_t, in the sample's dtype
      const T root = std::is_same_v<T, float> ? static_cast<T>(torch_sqrt(static_cast<float>(sigma * sigma + T(1))))
                                              : std::sqrt(sigma * sigma + T(1));
      const T alpha_t = T(1) / root;
      const T sigma_t = sigma * alpha_t;
      for (int64_t i = k * item; i < (k + 1) * item; ++i) out[i] = alpha_t * original[i] + sigma_t * noise[i];
      continue;
    }
    for (int64_t i = k * item; i < (k + 1) * item; ++i) out[i] = original[i] + noise[i] * sigma;
  }
}

template void SigmaStepper::scale_model_input<float>(const float*, int64_t, double, float*);
template void SigmaStepper::scale_model_input<double>(const double*, int64_t, double, double*);
template void SigmaStepper::scale_by_sigma<float>(const float*, int64_t, float, float*);
template void SigmaStepper::scale_by_sigma<double>(const double*, int64_t, float, double*);
template void SigmaStepper::add_noise<float>(const float*, const float*, const Shape&, const double*, int64_t,
                                             float*, bool) const;
template void SigmaStepper::add_noise<double>(const double*, const double*, const Shape&, const double*, int64_t,
                                              double*, bool) const;

}  // namespace ortdiffusion
