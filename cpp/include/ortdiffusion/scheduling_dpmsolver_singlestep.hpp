// DPMSolverSinglestepScheduler: a drop-in for diffusers.DPMSolverSinglestepScheduler (Lu et al. 2022,
// "DPM-Solver" Algorithms 1-3, singlestep: each group of `order` steps integrates from the group's first
// sample with the model outputs gathered inside the group). dpmsolver++ / dpmsolver / sde-dpmsolver++,
// orders 1-3 (the order of each step from diffusers' get_order_list), midpoint or Heun terms, Karras /
// exponential / beta sigmas. Same config, timesteps, sigmas and step arithmetic as diffusers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "ortdiffusion/dpmsolver_singlestep_config.hpp"
#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/sigma_stepper.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

class DPMSolverSinglestepScheduler {
 public:
  explicit DPMSolverSinglestepScheduler(DPMSolverSinglestepConfig config);

  const DPMSolverSinglestepConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

  // Integer timesteps and sigmas for n steps (diffusers' set_timesteps), starting a new loop. As diffusers,
  // sets lower_order_final when n is not a multiple of solver_order or the final sigma is zero (the
  // config changes: read config() back).
  void set_timesteps(int64_t num_inference_steps);
  // Caller-chosen integer timesteps; refused with Karras, exponential or beta sigmas as diffusers.
  void set_timesteps_from(const std::vector<int64_t>& timesteps);
  // diffusers' get_order_list: the solver order of each of n steps.
  std::vector<int> order_list(int64_t num_inference_steps) const;
  const std::vector<int>& order_list() const { return order_list_; }
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  SigmaStepper& stepper() { return stepper_; }
  const SigmaStepper& stepper() const { return stepper_; }
  float init_noise_sigma() const { return 1.0f; }

  // One step; writes x_{t-1}. sde-dpmsolver++ needs `noise` (the sample's dtype and shape) or a generator.
  template <typename T>
  void step(const T* model_output, double timestep, const T* sample, const Shape& shape, const T* noise,
            Generator* generator, T* prev_sample);

 private:
  void finish_schedule(const std::vector<int64_t>& timesteps, std::vector<double> sigmas);
  template <typename T>
  void convert_model_output(const T* model_output, const T* sample, const Shape& shape, float sigma, T* out) const;
  template <typename T>
  void update(int order, const T* const* outputs, const T* sample, const T* noise, int64_t n, T* out) const;

  // The loop's state in one dtype: the last solver_order converted outputs (newest last) and the sample at
  // the start of the current singlestep group (diffusers' model_outputs and self.sample).
  template <typename T>
  struct Loop {
    std::array<std::vector<T>, 3> outputs;
    std::vector<T> group_sample;
  };
  template <typename T>
  Loop<T>& loop();

  DPMSolverSinglestepConfig config_;
  std::vector<float> betas_, alphas_cumprod_, train_sigmas_, log_sigmas_, lambda_t_;
  std::optional<int64_t> num_inference_steps_;
  std::vector<int> order_list_;
  SigmaStepper stepper_;
  int64_t filled_ = 0;  // how many of the output slots hold a model output (diffusers: not None)
  int dtype_bytes_ = 0;
  int64_t loop_numel_ = -1;
  Loop<float> loop_f32_;
  Loop<double> loop_f64_;
};

}  // namespace ortdiffusion
