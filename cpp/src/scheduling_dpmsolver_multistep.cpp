// Mirrors diffusers.schedulers.scheduling_dpmsolver_multistep.DPMSolverMultistepScheduler (__init__,
// set_timesteps, convert_model_output, dpm_solver_first_order_update, multistep_dpm_solver_second_order_update,
// multistep_dpm_solver_third_order_update, step). Scalars are float32 like diffusers' 0-d tensors (sqrt as
// torch computes it, torch_float_sqrt.hpp); every tensor expression is evaluated term by term in the
// order Python evaluates it, each intermediate tensor rounded to the element type.
//
// Notation (Lu et al. 2022): alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma alpha_t, lambda = log(alpha_t /
// sigma_t) (half the log-SNR), h = lambda_t - lambda_s; D0, D1, D2 are the divided differences of the
// converted model outputs m0 (newest), m1, m2.
#include "ortdiffusion/scheduling_dpmsolver_multistep.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "loop_history.hpp"
#include "config_reader.hpp"
#include "dpm_solver_common.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/thresholding.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {
DPMSolverMultistepScheduler::DPMSolverMultistepScheduler(DPMSolverConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps,
                      config_.trained_betas ? &*config_.trained_betas : nullptr, config_.rescale_betas_zero_snr);
  alphas_cumprod_ = sigma_alphas_cumprod(betas_, config_.rescale_betas_zero_snr);
  train_sigmas_ = training_sigmas(alphas_cumprod_);
  log_sigmas_ = log_f32(train_sigmas_);
  lambda_t_ = detail::dpm_lambda_table(alphas_cumprod_);
  // Before set_timesteps: every training timestep, descending (diffusers' init; sigmas by training index).
  const std::vector<double> t = numpy_linspace(0.0, static_cast<double>(config_.num_train_timesteps - 1),
                                               config_.num_train_timesteps);
  std::vector<float> sigmas = train_sigmas_;
  sigmas.push_back(0.0f);
  stepper_.reset(std::vector<float>(t.rbegin(), t.rend()), std::move(sigmas));
}

void DPMSolverMultistepScheduler::set_timesteps(int64_t n) {
  if (n < 1) throw ArgumentError("num_inference_steps must be at least 1, got " + std::to_string(n));
  const int64_t T = config_.num_train_timesteps;
  const int64_t clipped = detail::dpm_clipped_timesteps(lambda_t_, config_.lambda_min_clipped);
  const int64_t last_timestep = T - clipped;
  std::vector<int64_t> timesteps =
      solver_timesteps(config_.timestep_spacing, last_timestep, T, n, config_.steps_offset);
  std::vector<double> sigmas;
  const bool karras = config_.use_karras_sigmas.value_or(false);
  const bool exponential = config_.use_exponential_sigmas.value_or(false) || config_.use_beta_sigmas.value_or(false);  // beta sigmas' timesteps as exponential's
  if (karras || (exponential && !config_.use_lu_lambdas)) {  // diffusers: Karras, then Lu lambdas, then the others
    // sigma range of the whole training schedule (np.flip(sigmas): in_sigmas[-1] is the smallest)
    const double sigma_min = train_sigmas_.front(), sigma_max = train_sigmas_.back();
    sigmas = converted_sigmas(detail::sigma_kind(config_), sigma_min, sigma_max, n);
    timesteps.clear();
    for (double s : sigmas) {
      double t = sigma_to_t(s, log_sigmas_);
      if (karras && config_.beta_schedule != BetaSchedule::SquaredCosCapV2) t = std::nearbyint(t);
      timesteps.push_back(static_cast<int64_t>(t));  // .to(torch.int64) truncates
    }
  } else if (config_.use_lu_lambdas) {
    // Lu et al. 2022's uniform log-SNR steps (diffusers' _convert_to_lu, rho = 1): log sigma linear from the
    // largest training value to the smallest, rounded timesteps (not for the cosine schedule)
    const double lambda_min = log_sigmas_.front(), lambda_max = log_sigmas_.back();
    timesteps.clear();
    for (double r : numpy_linspace(0.0, 1.0, n)) {
      sigmas.push_back(std::exp(lambda_max + r * (lambda_min - lambda_max)));
      double t = sigma_to_t(sigmas.back(), log_sigmas_);
      if (config_.beta_schedule != BetaSchedule::SquaredCosCapV2) t = std::nearbyint(t);
      timesteps.push_back(static_cast<int64_t>(t));
    }
  } else {
    std::vector<float> as_float(timesteps.begin(), timesteps.end());
    sigmas = interp_by_index(as_float, train_sigmas_);
  }
  finish_schedule(timesteps, std::move(sigmas));
}

void DPMSolverMultistepScheduler::set_timesteps_from(const std::vector<int64_t>& timesteps) {
  if (detail::sigma_kind(config_) != SigmaKind::Plain || config_.use_lu_lambdas) {
    throw ArgumentError("Cannot use `timesteps` with use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas or "
                        "use_lu_lambdas");
  }
  if (timesteps.empty()) throw ArgumentError("timesteps must not be empty");
  std::vector<float> as_float(timesteps.begin(), timesteps.end());
  finish_schedule(timesteps, interp_by_index(as_float, train_sigmas_));
}

void DPMSolverMultistepScheduler::finish_schedule(const std::vector<int64_t>& timesteps, std::vector<double> sigmas) {
  for (int64_t t : timesteps) {
    if (t < 0 || t >= config_.num_train_timesteps) {
      throw ArgumentError("timestep " + std::to_string(t) + " is outside the noise schedule: valid timesteps are 0 to " +
                          std::to_string(config_.num_train_timesteps - 1));
    }
  }
  const double sigma_last = config_.final_sigmas_type == FinalSigmasType::SigmaMin
                                ? static_cast<double>(torch_sqrt((1.0f - alphas_cumprod_[0]) / alphas_cumprod_[0]))
                                : 0.0;
  std::vector<float> sigmas_f32(sigmas.begin(), sigmas.end());
  sigmas_f32.push_back(static_cast<float>(sigma_last));
  stepper_.reset(std::vector<float>(timesteps.begin(), timesteps.end()), std::move(sigmas_f32));
  num_inference_steps_ = static_cast<int64_t>(timesteps.size());
  lower_order_nums_ = 0;
  history_dtype_bytes_ = 0;
  history_f32_.numel = history_f64_.numel = -1;
}

template <typename T>
DPMHistory<T>& DPMSolverMultistepScheduler::history(const Shape& shape) {
  DPMHistory<T>& h = detail::history_of<T>(history_f32_, history_f64_);
  const bool first = h.numel < 0;
  const int64_t n = detail::enter_loop_step<T>(history_dtype_bytes_, h.numel, shape, "step()");
  if (first) {
    for (auto& slot : h.outputs) slot.assign(static_cast<size_t>(n), T(0));
  }
  return h;
}

template <typename T>
void DPMSolverMultistepScheduler::convert_model_output(const T* mo, const T* x, const Shape& shape, float sigma, T* out) const {
  detail::dpm_convert_model_output<T>(detail::dpm_output_conversion(config_), mo, x, shape, sigma, out);
}

template <typename T>
void DPMSolverMultistepScheduler::update(int order, const DPMHistory<T>& h, const T* x, const float* noise, int64_t n,
                                         T* out) const {
  const int64_t index = *stepper_.step_index();
  const std::vector<float>& sigmas = stepper_.sigmas();
  const VPCoefficients t = vp_coefficients(sigmas[index + 1]);
  const VPCoefficients s0 = vp_coefficients(sigmas[index]);
  const float h_ = t.lambda - s0.lambda;
  const DPMAlgorithm algorithm = config_.algorithm_type;
  const bool midpoint = config_.solver_type == DPMSolverType::Midpoint;
  const int last = static_cast<int>(config_.solver_order) - 1;
  const T* M0 = h.outputs[last].data();
  const T* M1 = last >= 1 ? h.outputs[last - 1].data() : nullptr;
  const T* M2 = last >= 2 ? h.outputs[last - 2].data() : nullptr;
  const float e_neg = std::exp(-h_), e_pos = std::exp(h_), e_neg2 = std::exp(-2.0f * h_), e_pos2 = std::exp(2.0f * h_);
  // Coefficients as diffusers' 0-d float32 tensors, then cast to the element type.
  const auto C = [](float v) { return static_cast<T>(v); };
  const auto Nz = [&](int64_t i) { return static_cast<T>(noise[i]); };
  if (order == 1) {
    switch (algorithm) {
      case DPMAlgorithm::DPMSolverPP: {
        const T a = C(t.sigma / s0.sigma), b = C(t.alpha * (e_neg - 1.0f));
        for (int64_t i = 0; i < n; ++i) out[i] = a * x[i] - b * M0[i];
        break;
      }
      case DPMAlgorithm::DPMSolver: {
        const T a = C(t.alpha / s0.alpha), b = C(t.sigma * (e_pos - 1.0f));
        for (int64_t i = 0; i < n; ++i) out[i] = a * x[i] - b * M0[i];
        break;
      }
      case DPMAlgorithm::SDEDPMSolverPP: {
        const T a = C(t.sigma / s0.sigma * e_neg), b = C(t.alpha * (1.0f - e_neg2)),
                c = C(t.sigma * torch_sqrt(1.0f - e_neg2));
        for (int64_t i = 0; i < n; ++i) out[i] = a * x[i] + b * M0[i] + c * Nz(i);
        break;
      }
      case DPMAlgorithm::SDEDPMSolver: {
        const T a = C(t.alpha / s0.alpha), b = C(2.0f * (t.sigma * (e_pos - 1.0f))),
                c = C(t.sigma * torch_sqrt(e_pos2 - 1.0f));
        for (int64_t i = 0; i < n; ++i) out[i] = a * x[i] - b * M0[i] + c * Nz(i);
        break;
      }
    }
    return;
  }
  const VPCoefficients s1 = vp_coefficients(sigmas[index - 1]);
  const float h0 = s0.lambda - s1.lambda;
  const float r0 = h0 / h_;
  if (order == 2) {
    // D0 = m0, D1 = (1 / r0) * (m0 - m1)
    const T k = C(1.0f / r0);
    auto D1 = [&](int64_t i) -> T { return k * (M0[i] - M1[i]); };
    switch (algorithm) {
      case DPMAlgorithm::DPMSolverPP: {
        const float coef = t.alpha * (e_neg - 1.0f);
        const T a = C(t.sigma / s0.sigma), b = C(coef);
        const T c = midpoint ? C(0.5f * coef) : C(t.alpha * ((e_neg - 1.0f) / h_ + 1.0f));
        for (int64_t i = 0; i < n; ++i) {
          out[i] = midpoint ? (a * x[i] - b * M0[i]) - c * D1(i) : (a * x[i] - b * M0[i]) + c * D1(i);
        }
        break;
      }
      case DPMAlgorithm::DPMSolver: {
        const float coef = t.sigma * (e_pos - 1.0f);
        const T a = C(t.alpha / s0.alpha), b = C(coef);
        const T c = midpoint ? C(0.5f * coef) : C(t.sigma * ((e_pos - 1.0f) / h_ - 1.0f));
        for (int64_t i = 0; i < n; ++i) out[i] = (a * x[i] - b * M0[i]) - c * D1(i);
        break;
      }
      case DPMAlgorithm::SDEDPMSolverPP: {
        const float coef = t.alpha * (1.0f - e_neg2);
        const T a = C(t.sigma / s0.sigma * e_neg), b = C(coef);
        const T c = midpoint ? C(0.5f * coef) : C(t.alpha * ((1.0f - e_neg2) / (-2.0f * h_) + 1.0f));
        const T d = C(t.sigma * torch_sqrt(1.0f - e_neg2));
        for (int64_t i = 0; i < n; ++i) out[i] = ((a * x[i] + b * M0[i]) + c * D1(i)) + d * Nz(i);
        break;
      }
      case DPMAlgorithm::SDEDPMSolver: {
        const T a = C(t.alpha / s0.alpha), b = C(2.0f * (t.sigma * (e_pos - 1.0f)));
        const T c = midpoint ? C(t.sigma * (e_pos - 1.0f)) : C(2.0f * (t.sigma * ((e_pos - 1.0f) / h_ - 1.0f)));
        const T d = C(t.sigma * torch_sqrt(e_pos2 - 1.0f));
        for (int64_t i = 0; i < n; ++i) out[i] = ((a * x[i] - b * M0[i]) - c * D1(i)) + d * Nz(i);
        break;
      }
    }
    return;
  }
  // order 3
  const VPCoefficients s2 = vp_coefficients(sigmas[index - 2]);
  const float h1 = s1.lambda - s2.lambda;
  const float r1 = h1 / h_;
  const T k0 = C(1.0f / r0), k1 = C(1.0f / r1), w = C(r0 / (r0 + r1)), k2 = C(1.0f / (r0 + r1));
  for (int64_t i = 0; i < n; ++i) {
    // D1_0, D1_1 = (1 / r0) * (m0 - m1), (1 / r1) * (m1 - m2); D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1);
    // D2 = (1 / (r0 + r1)) * (D1_0 - D1_1)
    const T d10 = k0 * (M0[i] - M1[i]);
    const T d11 = k1 * (M1[i] - M2[i]);
    const T d1 = d10 + w * (d10 - d11);
    const T d2 = k2 * (d10 - d11);
    switch (algorithm) {
      case DPMAlgorithm::DPMSolverPP: {
        const T a = C(t.sigma / s0.sigma), b = C(t.alpha * (e_neg - 1.0f)), c = C(t.alpha * ((e_neg - 1.0f) / h_ + 1.0f)),
                d = C(t.alpha * ((e_neg - 1.0f + h_) / (h_ * h_) - 0.5f));
        out[i] = ((a * x[i] - b * M0[i]) + c * d1) - d * d2;
        break;
      }
      case DPMAlgorithm::DPMSolver: {
        const T a = C(t.alpha / s0.alpha), b = C(t.sigma * (e_pos - 1.0f)), c = C(t.sigma * ((e_pos - 1.0f) / h_ - 1.0f)),
                d = C(t.sigma * ((e_pos - 1.0f - h_) / (h_ * h_) - 0.5f));
        out[i] = ((a * x[i] - b * M0[i]) - c * d1) - d * d2;
        break;
      }
      default: {  // sde-dpmsolver++ (sde-dpmsolver has no third order: refused by the config)
        const float two_h = 2.0f * h_;
        const T a = C(t.sigma / s0.sigma * e_neg), b = C(t.alpha * (1.0f - e_neg2)),
                c = C(t.alpha * ((1.0f - e_neg2) / (-2.0f * h_) + 1.0f)),
                d = C(t.alpha * ((1.0f - e_neg2 - 2.0f * h_) / (two_h * two_h) - 0.5f)),
                e = C(t.sigma * torch_sqrt(1.0f - e_neg2));
        out[i] = (((a * x[i] + b * M0[i]) + c * d1) + d * d2) + e * Nz(i);
        break;
      }
    }
  }
}

template <typename T>
void DPMSolverMultistepScheduler::step(const T* model_output, double timestep, const T* sample, const Shape& shape,
                                       const float* noise, Generator* generator, T* prev_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n)) {
    throw ArgumentError("DPMSolverMultistepScheduler.step: prev_sample must not overlap model_output or sample");
  }
  if (!num_inference_steps_) {
    throw ArgumentError("Number of inference steps is not set: call set_timesteps(n) before step()");
  }
  const bool sde = config_.algorithm_type == DPMAlgorithm::SDEDPMSolver ||
                   config_.algorithm_type == DPMAlgorithm::SDEDPMSolverPP;
  if (sde && noise && generator) throw ArgumentError("Cannot pass both generator and variance_noise");
  if (sde && !noise && !generator) throw ArgumentError("the SDE variants need variance_noise or a generator");
  const int64_t index = stepper_.current_index(timestep, /*missing_is_last=*/true);
  const auto count = static_cast<int64_t>(stepper_.timesteps().size());
  const bool lower_order_final = index == count - 1 &&
                                 (config_.euler_at_final || (config_.lower_order_final && count < 15) ||
                                  config_.final_sigmas_type == FinalSigmasType::Zero);
  const bool lower_order_second = index == count - 2 && config_.lower_order_final && count < 15;
  DPMHistory<T>& h = history<T>(shape);
  // model_outputs[i] = model_outputs[i + 1]; model_outputs[-1] = converted (rotate the buffers)
  const int order_slots = static_cast<int>(config_.solver_order);
  std::rotate(h.outputs.begin(), h.outputs.begin() + 1, h.outputs.begin() + order_slots);
  convert_model_output(model_output, sample, shape, stepper_.sigmas()[index], h.outputs[order_slots - 1].data());
  // sample = sample.to(torch.float32)
  std::vector<T> as_f32;
  const T* x = sample;
  if (!std::is_same_v<T, float>) {
    as_f32.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) as_f32[i] = static_cast<T>(static_cast<float>(sample[i]));
    x = as_f32.data();
  }
  std::vector<float> drawn;
  if (sde && !noise) {
    drawn.resize(static_cast<size_t>(n));
    generator->randn(drawn.data(), n);
    noise = drawn.data();
  }
  int order;
  if (config_.solver_order == 1 || lower_order_nums_ < 1 || lower_order_final) {
    order = 1;
  } else if (config_.solver_order == 2 || lower_order_nums_ < 2 || lower_order_second) {
    order = 2;
  } else {
    order = 3;
  }
  update<T>(order, h, x, sde ? noise : nullptr, n, prev_sample);
  if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
  stepper_.advance();
}

template void DPMSolverMultistepScheduler::step<float>(const float*, double, const float*, const Shape&, const float*,
                                                       Generator*, float*);
template void DPMSolverMultistepScheduler::step<double>(const double*, double, const double*, const Shape&,
                                                        const float*, Generator*, double*);

}  // namespace ortdiffusion
