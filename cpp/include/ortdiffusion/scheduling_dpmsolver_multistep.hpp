// DPMSolverMultistepScheduler: a drop-in for diffusers.DPMSolverMultistepScheduler (Lu et al. 2022,
// "DPM-Solver" and "DPM-Solver++"): first to third order multistep updates in log-SNR time, data (++) or
// noise prediction, midpoint or Heun second-order terms, the SDE variants with noise drawn in torch's order,
// Karras / exponential sigmas, lower-order final steps. AUTOMATIC1111's "DPM++ 2M (Karras)" is
// dpmsolver++, order 2, midpoint. Same config, timesteps, sigmas and step arithmetic as diffusers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "ortdiffusion/dpmsolver_config.hpp"
#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/sigma_stepper.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

// The converted model outputs a multistep loop remembers (newest last), in the loop's dtype.
template <typename T>
struct DPMHistory {
  std::array<std::vector<T>, 3> outputs;  // outputs[order - 1] is the newest
  int64_t numel = -1;
};

class DPMSolverMultistepScheduler {
 public:
  explicit DPMSolverMultistepScheduler(DPMSolverConfig config);

  const DPMSolverConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

  // Integer timesteps and their sigmas for n steps (diffusers' set_timesteps), starting a new loop.
  void set_timesteps(int64_t num_inference_steps);
  // Caller-chosen integer timesteps (diffusers' set_timesteps(timesteps=...)); refused with Karras or
  // exponential sigmas, as diffusers refuses it.
  void set_timesteps_from(const std::vector<int64_t>& timesteps);
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  SigmaStepper& stepper() { return stepper_; }
  const SigmaStepper& stepper() const { return stepper_; }
  int64_t lower_order_nums() const { return lower_order_nums_; }
  float init_noise_sigma() const { return 1.0f; }

  // One multistep update; writes x_{t-1}. The SDE variants need `noise` (float32, the sample's shape)
  // or a generator (its float32 draws, as diffusers' randn_tensor(dtype=float32)).
  template <typename T>
  void step(const T* model_output, double timestep, const T* sample, const Shape& shape, const float* noise,
            Generator* generator, T* prev_sample);

 private:
  void finish_schedule(const std::vector<int64_t>& timesteps, std::vector<double> sigmas);
  int64_t step_index_for(double timestep);
  template <typename T>
  DPMHistory<T>& history(const Shape& shape);
  // diffusers' convert_model_output: x_0 (dpmsolver++) or epsilon (dpmsolver) prediction.
  template <typename T>
  void convert_model_output(const T* model_output, const T* sample, const Shape& shape, float sigma, T* out) const;
  template <typename T>
  void update(int order, const DPMHistory<T>& h, const T* sample, const float* noise, int64_t n, T* out) const;

  DPMSolverConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  std::vector<float> train_sigmas_;
  std::vector<float> log_sigmas_;
  std::vector<float> lambda_t_;
  std::optional<int64_t> num_inference_steps_;
  int64_t lower_order_nums_ = 0;
  int history_dtype_bytes_ = 0;
  SigmaStepper stepper_;
  DPMHistory<float> history_f32_;
  DPMHistory<double> history_f64_;
};

}  // namespace ortdiffusion
