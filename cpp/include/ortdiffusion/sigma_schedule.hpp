// Sigma schedules of the k-diffusion family of schedulers (Euler, Euler ancestral, Heun, LMS, DPM2,
// DPM-Solver with sigmas ...): sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) (Karras et al. 2022's
// noise level of the variance-exploding view of a DDPM), the float timesteps these schedulers use, and
// the Karras and exponential step schedules. Each function mirrors the diffusers / numpy code named
// beside it, in the same precision (float32 where diffusers uses torch float32 tensors, float64 where it
// uses numpy float64).
#pragma once

#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "ortdiffusion/noise_schedule.hpp"

namespace ortdiffusion {

// alphas_cumprod of the sigma-based schedulers' __init__: cumprod(1 - betas), with the last entry set to
// 2**-24 under rescale_betas_zero_snr (so that its sigma stays finite, as diffusers does).
std::vector<float> sigma_alphas_cumprod(const std::vector<float>& betas, bool rescale_betas_zero_snr);

// ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 in float32, by training timestep (ascending).
std::vector<float> training_sigmas(const std::vector<float>& alphas_cumprod);

// What the sigma schedulers without zero-SNR rescaling (Heun, KDPM2, LMS) build in __init__: betas,
// alphas_cumprod, the training sigmas and their float32 logs (for std::tie into the scheduler's members).
std::tuple<std::vector<float>, std::vector<float>, std::vector<float>, std::vector<float>> training_sigma_tables(
    BetaSchedule schedule, double beta_start, double beta_end, int64_t num_train_timesteps,
    const std::optional<std::vector<double>>& trained_betas);

// The float32 inference timesteps of EulerDiscreteScheduler.set_timesteps (descending): "linspace" keeps
// np.linspace(0, T - 1, n, dtype=float32)'s fractions, "leading" and "trailing" are whole numbers.
std::vector<float> float_timesteps(TimestepSpacing spacing, int64_t num_train_timesteps, int64_t num_inference_steps,
                                   int64_t steps_offset);

// np.interp(x, arange(len(fp)), fp) in float64 (numpy's arr_interp: slope (fp[j+1] - fp[j]) / 1,
// value slope * (x - j) + fp[j]; fp[-1] at and past the end, fp[0] before the start).
std::vector<double> interp_by_index(const std::vector<float>& x, const std::vector<float>& fp);

// Karras et al. 2022, eq. (5) with rho = 7: (max^(1/rho) + ramp (min^(1/rho) - max^(1/rho)))^rho over
// ramp = np.linspace(0, 1, n) (diffusers' _convert_to_karras).
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int64_t n, double rho = 7.0);

// exp(np.linspace(log(sigma_max), log(sigma_min), n)) (diffusers' _convert_to_exponential).
std::vector<double> exponential_sigmas(double sigma_min, double sigma_max, int64_t n);

// The fractional training timestep of `sigma`: linear interpolation of log(sigma) between the two
// neighbouring entries of log_sigmas (float32 np.log of training_sigmas), diffusers' _sigma_to_t.
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);
// The same for a float32 sigma as numpy evaluates it then: the log, distances and weight in float32, the
// final (1 - w) low + w high in float64 (float32 times an int64 index).
double sigma_to_t_f32(float sigma, const std::vector<float>& log_sigmas);

// The variance-preserving view of a noise level (diffusers' _sigma_to_alpha_sigma_t and the log-SNR the
// multistep solvers use), in float32 as diffusers' 0-d tensors: alpha = 1 / sqrt(sigma^2 + 1),
// sigma_t = sigma alpha, lambda = log(alpha) - log(sigma_t).
struct VPCoefficients {
  float alpha, sigma, lambda;
};
VPCoefficients vp_coefficients(float sigma);

// diffusers' _convert_to_beta ("Beta Sampling is All You Need", Lee et al. 2024): sigma_min + ppf(1 - r)
// (sigma_max - sigma_min) over r = np.linspace(0, 1, n), ppf the quantile of Beta(alpha, beta)
// (scipy.stats.beta.ppf there, incomplete_beta.hpp here).
std::vector<double> beta_sigmas(double sigma_min, double sigma_max, int64_t n, double alpha = 0.6, double beta = 0.6);

// Which step schedule a sigma scheduler's config asks for (use_karras_sigmas, use_exponential_sigmas,
// use_beta_sigmas), and the sigmas of that schedule between sigma_min and sigma_max (Plain: none).
enum class SigmaKind { Plain, Karras, Exponential, Beta };
std::vector<double> converted_sigmas(SigmaKind kind, double sigma_min, double sigma_max, int64_t n);

// np.log of a float32 array, element by element in float32.
std::vector<float> log_f32(const std::vector<float>& values);

// np.linspace(start, stop, num) in float64 (numpy's formula: i * step + start, the last exactly stop).
std::vector<double> numpy_linspace(double start, double stop, int64_t num);

// The integer timesteps of the multistep solvers' set_timesteps (DPM-Solver, UniPC, DEIS), descending:
// "linspace" np.linspace(0, last_timestep - 1, n + 1).round()[::-1][:-1]; "leading" (arange(n + 1) *
// (last_timestep // (n + 1)))[::-1][:-1] + steps_offset; "trailing" np.arange(last_timestep, 0,
// -T / n).round() - 1. last_timestep is num_train_timesteps unless lambda_min_clipped cuts it.
std::vector<int64_t> solver_timesteps(TimestepSpacing spacing, int64_t last_timestep, int64_t num_train_timesteps,
                                      int64_t num_inference_steps, int64_t steps_offset);

// diffusers' index_for_timestep: the position of `timestep` in `schedule` (the second match when it
// occurs more than once, so that img2img starting mid-schedule does not skip a sigma). ArgumentError
// naming the timestep when it is not in the schedule.
int64_t index_for_timestep(const std::vector<float>& schedule, double timestep);

}  // namespace ortdiffusion
