// The state every sigma-based scheduler keeps between calls (diffusers' Euler / Heun / LMS / DPM2 ...):
// the inference timesteps and sigmas, the step index found from the first timestep (or set by
// set_begin_index for img2img), and the operations that read only that state: scale_model_input
// (x / sqrt(sigma^2 + 1)), add_noise (x + sigma noise) and init_noise_sigma.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

class SigmaStepper {
 public:
  // timesteps descending; sigmas has one more entry (the sigma after the last step).
  void reset(std::vector<float> timesteps, std::vector<float> sigmas);
  const std::vector<float>& timesteps() const { return timesteps_; }
  const std::vector<float>& sigmas() const { return sigmas_; }
  std::optional<int64_t> step_index() const { return step_index_; }
  std::optional<int64_t> begin_index() const { return begin_index_; }
  void set_begin_index(int64_t begin_index);

  // The step index for `timestep`: found in the schedule on the first call of a loop (diffusers'
  // _init_step_index), then the running index. A timestep not in the schedule is an ArgumentError, or the
  // last step with `missing_is_last` (DPM-Solver's index_for_timestep). ArgumentError when the loop is
  // already past its last step.
  int64_t current_index(double timestep, bool missing_is_last = false);
  void advance() { ++*step_index_; }

  // Standard deviation of the initial noise: max sigma for "linspace"/"trailing", sqrt(max^2 + 1) else.
  float init_noise_sigma(TimestepSpacing spacing) const;

  // sample / sqrt(sigma^2 + 1) (the input scaling of Karras et al. 2022, Table 1: c_in).
  template <typename T>
  void scale_model_input(const T* sample, int64_t n, double timestep, T* out);
  // The same scaling for a given sigma (schedulers whose model input sigma is not the step's, e.g. KDPM2's
  // midpoints).
  template <typename T>
  static void scale_by_sigma(const T* sample, int64_t n, float sigma, T* out);

  // original + noise * sigma(t), one timestep per batch item (or one for all); the sigma of each timestep
  // is found as index_for_timestep does, or taken at the begin / current index when those are set.
  // `variance_preserving` gives alpha_t original + sigma_t noise with alpha_t = 1 / sqrt(sigma^2 + 1),
  // sigma_t = sigma alpha_t (DPM-Solver's add_noise), whose lookup takes the last step for a timestep not
  // in the schedule.
  template <typename T>
  void add_noise(const T* original, const T* noise, const Shape& shape, const double* timesteps,
                 int64_t num_timesteps, T* out, bool variance_preserving = false) const;

 private:
  std::vector<float> timesteps_;
  std::vector<float> sigmas_;
  std::optional<int64_t> step_index_;
  std::optional<int64_t> begin_index_;
};

}  // namespace ortdiffusion
