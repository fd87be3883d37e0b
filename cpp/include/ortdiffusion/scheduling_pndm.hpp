// PNDMScheduler: a drop-in for diffusers.PNDMScheduler (Liu et al. 2022, "Pseudo Numerical Methods for
// Diffusion Models on Manifolds", https://arxiv.org/abs/2202.09778): the pseudo Runge-Kutta warm-up
// (PRK) followed by the pseudo linear multistep method (PLMS), or PLMS alone with skip_prk_steps (the
// Stable Diffusion default). Same config, same timesteps, same numbers.
//
// The scheduler keeps the history of model outputs between steps, as diffusers' does: one instance
// serves one denoising loop at a time (set_timesteps starts a new one). The history buffers are
// allocated at the first steps and reused afterwards, so a loop allocates nothing once warm.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "ortdiffusion/pndm_config.hpp"
#include "ortdiffusion/tensor_shape.hpp"

namespace ortdiffusion {

// Model outputs and samples a PNDM loop remembers, in the loop's dtype.
template <typename T>
struct PNDMHistory {
  std::array<std::vector<T>, 4> ets;  // last <= 4 model outputs, a ring: oldest at ets_start
  int ets_start = 0;
  int ets_count = 0;
  std::vector<T> cur_model_output;  // PRK: the weighted sum of the current group's outputs
  bool has_cur_model_output = false;
  std::vector<T> cur_sample;  // PRK: the sample at the start of the group; PLMS: x_t of the first step
  bool has_cur_sample = false;
  std::vector<T> combined;  // the multistep combination of model outputs fed to the update
  int64_t numel = -1;       // elements per tensor in this loop

  void reset() { ets_start = ets_count = 0, has_cur_model_output = has_cur_sample = false, numel = -1; }
  // ets[-k] in Python terms (k = 1 is the newest).
  const std::vector<T>& last(int k) const { return ets[(ets_start + ets_count - k) % 4]; }
  // self.ets = self.ets[-3:]; self.ets.append(model_output), reusing the dropped buffer.
  void push(const T* model_output, int64_t n);
  // push()'s bookkeeping alone: the slot (n elements) that now holds ets[-1], for the caller to fill.
  T* push_slot(int64_t n);
};

class PNDMScheduler {
 public:
  explicit PNDMScheduler(PNDMConfig config);

  const PNDMConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }
  float final_alpha_cumprod() const { return final_alpha_cumprod_; }
  float init_noise_sigma() const { return 1.0f; }
  int pndm_order() const { return 4; }

  // Sets the inference timesteps (PRK then PLMS, descending) and starts a new loop (clears the history).
  // Raises ArgumentError for n < 1, n > num_train_timesteps, or n < 4 without skip_prk_steps (the
  // Runge-Kutta warm-up runs on the last 4 timesteps; diffusers fails there with a numpy broadcast error).
  void set_timesteps(int64_t num_inference_steps);
  const std::vector<int64_t>& timesteps() const { return timesteps_; }
  const std::vector<int64_t>& prk_timesteps() const { return prk_timesteps_; }
  const std::vector<int64_t>& plms_timesteps() const { return plms_timesteps_; }
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  int64_t counter() const { return counter_; }

  // One step (step_prk for the first 12 calls unless skip_prk_steps, then step_plms), writing x_{t-δ}
  // into prev_sample (of `shape`, not overlapping the inputs). Raises ArgumentError before
  // set_timesteps, for a timestep outside the schedule, or when dtype/shape change within a loop.
  template <typename T>
  void step(const T* model_output, int64_t timestep, const T* sample, const Shape& shape, T* prev_sample);

  template <typename T>
  void step_prk(const T* model_output, int64_t timestep, const T* sample, const Shape& shape, T* prev_sample);

  template <typename T>
  void step_plms(const T* model_output, int64_t timestep, const T* sample, const Shape& shape, T* prev_sample);

  // The remembered model outputs, oldest first (diffusers' scheduler.ets), and their replacement (a test
  // or a caller resuming a loop sets scheduler.ets = [...]; the last 4 are kept, all PLMS ever reads).
  // Both need set_timesteps; setting fixes the loop's dtype and shape as a step does.
  template <typename T>
  std::vector<std::vector<T>> ets() const;
  template <typename T>
  void set_ets(const std::vector<const T*>& outputs, const Shape& shape);
  void clear_ets() { history_f32_.ets_start = history_f32_.ets_count = history_f64_.ets_start = history_f64_.ets_count = 0; }

  // Forward process (forward_process.hpp) on this scheduler's alphas_cumprod.
  template <typename T>
  void add_noise(const T* original_samples, const T* noise, const Shape& shape, const int64_t* timesteps,
                 int64_t num_timesteps, T* out) const;

 private:
  template <typename T>
  PNDMHistory<T>& history(const Shape& shape, const char* what);
  // x_{t-δ} from x_t, PNDM paper formula (9) (diffusers' _get_prev_sample). With plms_order > 0 (epsilon
  // prediction), model_output is this step's output combined with `older` (ets[-1..-3] before it joins) in that
  // order's weights, and copied into `keep`, in the same pass.
  template <typename T>
  void prev_sample(const T* sample, int64_t timestep, int64_t prev_timestep, const T* model_output, int64_t n,
                   T* out, int plms_order = 0, const std::array<const T*, 3>& older = {}, T* keep = nullptr) const;
  int64_t step_ratio() const { return config_.num_train_timesteps / *num_inference_steps_; }

  PNDMConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  float final_alpha_cumprod_;
  std::vector<int64_t> timesteps_, prk_timesteps_, plms_timesteps_;
  std::optional<int64_t> num_inference_steps_;
  int64_t counter_ = 0;
  int history_dtype_bytes_ = 0;  // 0 until the first step of a loop, then sizeof(T) of that loop
  PNDMHistory<float> history_f32_;
  PNDMHistory<double> history_f64_;
};

}  // namespace ortdiffusion
