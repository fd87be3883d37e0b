// Mirrors diffusers.schedulers.scheduling_ddim.DDIMScheduler (__init__, set_timesteps, step,
// add_noise, get_velocity). The numbered steps of step() are diffusers' own, so the two can be read
// side by side (the element-wise ones in ddim_step_kernel.cpp). Scalars are float32 like diffusers' 0-d
// float32 tensors; element-wise work runs in the tensor's dtype with every product rounded on its own
// (built with -ffp-contract=off).
//
// Notation (Song et al. 2020, eq. 12 and 16):
//   alpha_prod_t      = alpha_bar_t          beta_prod_t = 1 - alpha_bar_t
//   pred_original     = x_0 prediction       pred_epsilon = epsilon prediction
//   std_dev_t         = sigma_t(eta)         prev_sample  = x_{t-1}
#include "ortdiffusion/scheduling_ddim.hpp"

#include <cmath>
#include <string>

#include "ddim_step_kernel.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/forward_process.hpp"
#include "ortdiffusion/thresholding.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {
DDIMScheduler::DDIMScheduler(DDIMConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps,
                      config_.trained_betas ? &*config_.trained_betas : nullptr, config_.rescale_betas_zero_snr);
  alphas_cumprod_ = alphas_cumprod_from_betas(betas_);
  // For the final step there is no previous alphas_cumprod: `set_alpha_to_one` uses 1, otherwise
  // the first alpha_bar.
  final_alpha_cumprod_ = config_.set_alpha_to_one ? 1.0f : alphas_cumprod_.front();
  // Before set_timesteps: every training timestep, descending.
  timesteps_.resize(static_cast<size_t>(config_.num_train_timesteps));
  for (int64_t i = 0; i < config_.num_train_timesteps; ++i) timesteps_[i] = config_.num_train_timesteps - 1 - i;
}

void DDIMScheduler::set_timesteps(int64_t num_inference_steps) {
  timesteps_ = spaced_timesteps(config_.timestep_spacing, config_.num_train_timesteps, num_inference_steps,
                                config_.steps_offset);
  num_inference_steps_ = num_inference_steps;
}

void DDIMScheduler::check_timestep(int64_t timestep, const char* what) const {
  ortdiffusion::check_timestep(alphas_cumprod_, timestep, what);
}

DDIMStepCoefficients DDIMScheduler::step_coefficients(int64_t timestep, double eta) const {
  if (!num_inference_steps_) {
    throw ArgumentError("Number of inference steps is not set: call set_timesteps(n) before step()");
  }
  check_timestep(timestep, "timestep");
  DDIMStepCoefficients c{};
  // 1. get previous step value (=t-1); diffusers uses T // n for every spacing.
  c.prev_timestep = timestep - config_.num_train_timesteps / *num_inference_steps_;
  // 2. compute alphas, betas
  c.alpha_prod_t = alphas_cumprod_[timestep];
  c.alpha_prod_t_prev = c.prev_timestep >= 0 ? alphas_cumprod_[c.prev_timestep] : final_alpha_cumprod_;
  c.beta_prod_t = 1.0f - c.alpha_prod_t;
  c.sqrt_alpha_prod_t = torch_sqrt(c.alpha_prod_t);
  c.sqrt_beta_prod_t = torch_sqrt(c.beta_prod_t);
  c.sqrt_alpha_prod_t_prev = torch_sqrt(c.alpha_prod_t_prev);
  // 5. compute variance: "sigma_t(eta)" -> see formula (16)
  // sigma_t = sqrt((1 - alpha_t-1)/(1 - alpha_t)) * sqrt(1 - alpha_t/alpha_t-1)
  const float beta_prod_t_prev = 1.0f - c.alpha_prod_t_prev;
  const float variance = (beta_prod_t_prev / c.beta_prod_t) * (1.0f - c.alpha_prod_t / c.alpha_prod_t_prev);
  c.std_dev_t = static_cast<float>(eta) * torch_sqrt(variance);
  // 6. "direction pointing to x_t" coefficient of formula (12)
  c.direction_coefficient = torch_sqrt(1.0f - c.alpha_prod_t_prev - c.std_dev_t * c.std_dev_t);
  return c;
}

template <typename T>
void DDIMScheduler::step(const T* model_output, int64_t timestep, const T* sample, const Shape& shape,
                         const DDIMStepOptions<T>& options, T* prev_sample, T* pred_original_sample) const {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap<T>(prev_sample, sample, n) || buffers_overlap<T>(prev_sample, model_output, n) ||
      buffers_overlap<T>(pred_original_sample, sample, n) || buffers_overlap<T>(pred_original_sample, model_output, n) ||
      buffers_overlap<T>(prev_sample, pred_original_sample, n)) {
    throw ArgumentError("DDIMScheduler.step: output buffers must not overlap the inputs or each other");
  }
  const bool add_variance = options.eta > 0;
  if (add_variance && options.variance_noise && options.generator) {
    throw ArgumentError(
        "Cannot pass both generator and variance_noise: make sure that either `generator` or "
        "`variance_noise` stays None");
  }
  if (add_variance && !options.variance_noise && !options.generator) {
    throw ArgumentError("eta > 0 needs variance_noise or a generator to draw the noise from");
  }
  if (config_.thresholding && shape.size() < 2) {
    throw ArgumentError("thresholding needs a sample of at least 2 dimensions (batch, channels, ...), got shape " +
                        shape_to_string(shape));
  }
  const DDIMStepCoefficients c = step_coefficients(timestep, options.eta);

  // Noise for eta > 0, drawn before the arithmetic as diffusers' randn_tensor does.
  std::vector<T> drawn_noise;
  const T* noise = options.variance_noise;
  if (add_variance && !noise) {
    drawn_noise.resize(static_cast<size_t>(n));
    options.generator->randn(drawn_noise.data(), n);
    noise = drawn_noise.data();
  }

  detail::StepKernelArgs<T> k{};
  k.model_output = model_output;
  k.sample = sample;
  k.noise = add_variance ? noise : nullptr;
  k.pred_original_sample = pred_original_sample;
  k.prev_sample = prev_sample;
  k.n = n;
  k.prediction_type = config_.prediction_type;
  k.clip = config_.clip_sample && !config_.thresholding;
  k.use_clipped_model_output = options.use_clipped_model_output;
  k.sqrt_alpha_prod_t = c.sqrt_alpha_prod_t;
  k.sqrt_beta_prod_t = c.sqrt_beta_prod_t;
  k.sqrt_alpha_prod_t_prev = c.sqrt_alpha_prod_t_prev;
  k.direction_coefficient = c.direction_coefficient;
  k.std_dev_t = c.std_dev_t;
  k.clip_lo = static_cast<T>(-config_.clip_sample_range);
  k.clip_hi = static_cast<T>(config_.clip_sample_range);
  if (!config_.thresholding) {
    // 3.-7. in one pass: x_0 (clipped if asked), epsilon, x_{t-1}
    k.phase = detail::StepPhase::Fused;
    detail::ddim_step_elementwise(k);
    return;
  }
  // 3. x_0; 4. dynamic thresholding per batch item; 5.-7. x_{t-1} from the thresholded x_0
  k.phase = detail::StepPhase::X0Only;
  detail::ddim_step_elementwise(k);
  threshold_sample(pred_original_sample, shape[0], shape[0] == 0 ? 0 : n / shape[0], config_.dynamic_thresholding_ratio,
                   config_.sample_max_value);
  k.phase = detail::StepPhase::PrevFromX0;
  detail::ddim_step_elementwise(k);
}

template <typename T>
void DDIMScheduler::add_noise(const T* original_samples, const T* noise, const Shape& shape, const int64_t* timesteps,
                              int64_t num_timesteps, T* out) const {
  ortdiffusion::add_noise<T>(alphas_cumprod_, original_samples, noise, shape, timesteps, num_timesteps, out);
}

template <typename T>
void DDIMScheduler::get_velocity(const T* sample, const T* noise, const Shape& shape, const int64_t* timesteps,
                                 int64_t num_timesteps, T* out) const {
  ortdiffusion::get_velocity<T>(alphas_cumprod_, sample, noise, shape, timesteps, num_timesteps, out);
}

template void DDIMScheduler::step<float>(const float*, int64_t, const float*, const Shape&,
                                         const DDIMStepOptions<float>&, float*, float*) const;
template void DDIMScheduler::step<double>(const double*, int64_t, const double*, const Shape&,
                                          const DDIMStepOptions<double>&, double*, double*) const;
template void DDIMScheduler::add_noise<float>(const float*, const float*, const Shape&, const int64_t*, int64_t,
                                              float*) const;
template void DDIMScheduler::add_noise<double>(const double*, const double*, const Shape&, const int64_t*, int64_t,
                                               double*) const;
template void DDIMScheduler::get_velocity<float>(const float*, const float*, const Shape&, const int64_t*, int64_t,
                                                 float*) const;
template void DDIMScheduler::get_velocity<double>(const double*, const double*, const Shape&, const int64_t*,
                                                  int64_t, double*) const;

}  // namespace ortdiffusion
