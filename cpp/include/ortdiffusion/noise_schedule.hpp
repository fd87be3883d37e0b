// Noise-schedule building blocks shared by every scheduler (DDIM now; Euler, Euler ancestral,
// DPM++ 2M and LCM later): beta schedules, alphas_cumprod and inference timestep spacing.
// Every function mirrors the diffusers code named beside it, in the same float32 arithmetic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ortdiffusion {

// Exp (alpha_bar(t) = exp(-12 t)) is HeunDiscreteScheduler's only: parse_beta_schedule refuses it.
enum class BetaSchedule { Linear, ScaledLinear, SquaredCosCapV2, Exp };
enum class TimestepSpacing { Leading, Trailing, Linspace };

// Parse / print the config strings ("linear", "scaled_linear", ...). Unknown names raise
// ConfigError listing the accepted names (built from the same table the parser uses).
BetaSchedule parse_beta_schedule(const std::string& name);
// The same plus "exp" (HeunDiscreteScheduler).
BetaSchedule parse_beta_schedule_with_exp(const std::string& name);
std::string to_string(BetaSchedule schedule);
TimestepSpacing parse_timestep_spacing(const std::string& name);
std::string to_string(TimestepSpacing spacing);

// torch.linspace(start, end, steps, dtype=torch.float32): float32 arithmetic, the first half
// counted from `start`, the second half from `end` (ATen linspace_kernel).
std::vector<float> torch_linspace_f32(double start, double end, int64_t steps);

// diffusers.schedulers.scheduling_ddim.betas_for_alpha_bar (Glide cosine, "squaredcos_cap_v2"):
// beta_i = min(1 - alpha_bar((i+1)/T) / alpha_bar(i/T), max_beta), computed in double, stored f32.
std::vector<float> betas_for_alpha_bar_cosine(int64_t num_diffusion_timesteps, double max_beta = 0.999);
// The same with alpha_bar(t) = exp(-12 t) (alpha_transform_type "exp": HeunDiscreteScheduler's "exp" schedule).
std::vector<float> betas_for_alpha_bar_exp(int64_t num_diffusion_timesteps, double max_beta = 0.999);

// diffusers rescale_zero_terminal_snr (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample
// Steps are Flawed", Algorithm 1): shift and scale sqrt(alphas_cumprod) so the last step has SNR 0.
std::vector<float> rescale_zero_terminal_snr(const std::vector<float>& betas);

// torch.cumprod(1 - betas) on CPU: the running product is accumulated in double and each output
// is rounded to float32 (ATen cumprod_cpu_kernel uses acc_type<float> = double).
std::vector<float> alphas_cumprod_from_betas(const std::vector<float>& betas);

// The betas for a config: trained_betas when given, else the named schedule over
// num_train_timesteps, then rescaled for zero terminal SNR when asked
// (DDIMScheduler.__init__).
std::vector<float> make_betas(BetaSchedule schedule, double beta_start, double beta_end,
                              int64_t num_train_timesteps, const std::vector<double>* trained_betas,
                              bool rescale_betas_zero_snr);

// DDIMScheduler.set_timesteps: the inference timesteps, descending, exactly as diffusers computes
// them with numpy (round half to even, numpy's arange length and fill rule for "trailing").
// Raises ArgumentError when n < 1 or n > num_train_timesteps.
std::vector<int64_t> spaced_timesteps(TimestepSpacing spacing, int64_t num_train_timesteps,
                                      int64_t num_inference_steps, int64_t steps_offset);

}  // namespace ortdiffusion
