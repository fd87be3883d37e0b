// TCDScheduler: a drop-in for diffusers.TCDScheduler (Zheng et al. 2024, "Trajectory Consistency
// Distillation": strategic stochastic sampling). Each step predicts x_0 and the noise, moves to the earlier
// timestep s = floor((1 - eta) t_prev) on the predicted trajectory, then (eta > 0, not the last step) noises
// forward to t_prev. For TCD-LoRAs and TCD-distilled UNets at 2-8 steps. Same config keys as LCMScheduler.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ortdiffusion/generator.hpp"
#include "ortdiffusion/scheduling_lcm.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

using TCDConfig = LCMConfig;  // diffusers' TCDScheduler takes LCMScheduler's keys and defaults

class TCDScheduler {
 public:
  explicit TCDScheduler(TCDConfig config);

  const TCDConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }
  float final_alpha_cumprod() const { return final_alpha_cumprod_; }
  float init_noise_sigma() const { return 1.0f; }

  // diffusers' set_timesteps(num_inference_steps, original_inference_steps, strength): with
  // original_inference_steps <= 0 the config's distillation schedule (as LCM); given explicitly, every
  // training timestep up to T * strength is a candidate (diffusers' TCD rule).
  void set_timesteps(int64_t num_inference_steps, int64_t original_inference_steps = 0, double strength = 1.0);
  void set_timesteps_from(const std::vector<int64_t>& timesteps, double strength = 1.0);
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  std::optional<int64_t> step_index() const { return step_index_; }
  std::optional<int64_t> begin_index() const { return begin_index_; }
  void set_begin_index(int64_t begin_index) { begin_index_ = begin_index; }
  // Whether the step at `timestep` adds noise (eta > 0 and not the last step): the caller draws only then.
  bool step_draws_noise(int64_t timestep, double eta);

  // One step with gamma `eta` in [0, 1]; `noise` or `generator` is needed only when it draws. Writes
  // prev_sample and pred_noised_sample (x_s).
  template <typename T>
  void step(const T* model_output, int64_t timestep, const T* sample, const Shape& shape, double eta, const T* noise,
            Generator* generator, T* prev_sample, T* pred_noised_sample);

 private:
  int64_t init_step_index(int64_t timestep);

  TCDConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  float final_alpha_cumprod_;
  std::vector<int64_t> timesteps_;
  std::optional<int64_t> num_inference_steps_;
  std::optional<int64_t> step_index_;
  std::optional<int64_t> begin_index_;
};

}  // namespace ortdiffusion
