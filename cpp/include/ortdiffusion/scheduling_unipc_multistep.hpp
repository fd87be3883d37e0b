// UniPCMultistepScheduler: a drop-in for diffusers.UniPCMultistepScheduler (Zhao et al. 2023, "UniPC: A
// Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models"): the UniP predictor and the
// UniC corrector of any order, B(h) = h (bh1) or e^h - 1 (bh2), data or noise prediction, Karras and
// exponential sigmas. Same config, timesteps, sigmas and step arithmetic as diffusers (the small linear
// systems for the coefficients are solved as LAPACK's sgesv does: LU with partial pivoting in float32).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ortdiffusion/sigma_stepper.hpp"
#include "ortdiffusion/tensor_shape.hpp"
#include "ortdiffusion/unipc_config.hpp"

namespace ortdiffusion {

// The converted model outputs (newest last) and the sample the corrector starts from, in the loop's dtype.
template <typename T>
struct UniPCHistory {
  std::vector<std::vector<T>> outputs;  // solver_order slots
  std::vector<T> last_sample;
  bool has_last_sample = false;
  std::vector<T> corrected;
  std::vector<T> spare;  // the buffer the last shift dropped, reused for the next converted output
  int64_t numel = -1;
};

class UniPCMultistepScheduler {
 public:
  explicit UniPCMultistepScheduler(UniPCConfig config);

  const UniPCConfig& config() const { return config_; }
  const std::vector<float>& betas() const { return betas_; }
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }
  float init_noise_sigma() const { return 1.0f; }

  void set_timesteps(int64_t num_inference_steps);
  std::optional<int64_t> num_inference_steps() const { return num_inference_steps_; }
  SigmaStepper& stepper() { return stepper_; }
  const SigmaStepper& stepper() const { return stepper_; }
  int64_t lower_order_nums() const { return lower_order_nums_; }
  int64_t this_order() const { return this_order_; }

  // One step: the corrector on the incoming sample (from the second step on), then the predictor; writes
  // x_{t-1} into prev_sample.
  template <typename T>
  void step(const T* model_output, double timestep, const T* sample, const Shape& shape, T* prev_sample);

 private:
  template <typename T>
  UniPCHistory<T>& history(const Shape& shape);
  template <typename T>
  void convert_model_output(const T* model_output, const T* sample, const Shape& shape, float sigma, T* out) const;
  // UniP (predictor) from `x` at step_index; UniC (corrector) from the previous sample `x` and this step's output.
  template <typename T>
  void predictor(const UniPCHistory<T>& h, const T* x, int order, int64_t n, T* out) const;
  template <typename T>
  void corrector(const UniPCHistory<T>& h, const T* model_t, const T* x, int order, int64_t n, T* out) const;

  UniPCConfig config_;
  std::vector<float> betas_;
  std::vector<float> alphas_cumprod_;
  std::vector<float> train_sigmas_;
  std::vector<float> log_sigmas_;
  std::optional<int64_t> num_inference_steps_;
  int64_t lower_order_nums_ = 0;
  int64_t this_order_ = 0;
  int history_dtype_bytes_ = 0;
  SigmaStepper stepper_;
  UniPCHistory<float> history_f32_;
  UniPCHistory<double> history_f64_;
};

}  // namespace ortdiffusion
