// Mirrors diffusers.schedulers.scheduling_dpmsolver_singlestep.DPMSolverSinglestepScheduler (__init__,
// get_order_list, set_timesteps, convert_model_output, dpm_solver_first_order_update,
// singlestep_dpm_solver_second_order_update, singlestep_dpm_solver_third_order_update, step). Scalars are
// float32 like diffusers' 0-d tensors (sqrt as torch computes it); each tensor expression is evaluated term by
// term in Python's order, every intermediate rounded to the element type.
//
// Notation (Lu et al. 2022): alpha = 1 / sqrt(sigma^2 + 1), sigma_t = sigma alpha, lambda = log(alpha) -
// log(sigma_t); a group of k steps starts at s_{k-1} (the group's first sample) and ends at t; m0 is the
// newest converted model output.
#include "ortdiffusion/scheduling_dpmsolver_singlestep.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "config_reader.hpp"
#include "dpm_solver_common.hpp"
#include "solver_kernels.hpp"
#include "loop_history.hpp"
#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/thresholding.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

DPMSolverSinglestepScheduler::DPMSolverSinglestepScheduler(DPMSolverSinglestepConfig config)
    : config_(std::move(config)) {
  std::tie(betas_, alphas_cumprod_, train_sigmas_, log_sigmas_) = training_sigma_tables(
      config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps, config_.trained_betas);
  lambda_t_ = detail::dpm_lambda_table(alphas_cumprod_);
  // before set_timesteps: every training timestep, descending; sigmas by training index (no final sigma)
  const std::vector<double> t = numpy_linspace(0.0, static_cast<double>(config_.num_train_timesteps - 1),
                                               config_.num_train_timesteps);
  stepper_.reset(std::vector<float>(t.rbegin(), t.rend()), train_sigmas_);
  order_list_ = order_list(config_.num_train_timesteps);
}

std::vector<int> DPMSolverSinglestepScheduler::order_list(int64_t steps) const {
  const auto order = static_cast<int>(config_.solver_order);
  const auto repeat = [](std::initializer_list<int> pattern, int64_t times) {
    std::vector<int> out;
    for (int64_t i = 0; i < times; ++i) out.insert(out.end(), pattern);
    return out;
  };
  std::vector<int> orders;
  if (config_.lower_order_final) {
    if (order == 3) {
      if (steps % 3 == 0) {
        orders = repeat({1, 2, 3}, steps / 3 - 1);
        orders.insert(orders.end(), {1, 2, 1});
      } else if (steps % 3 == 1) {
        orders = repeat({1, 2, 3}, steps / 3);
        orders.push_back(1);
      } else {
        orders = repeat({1, 2, 3}, steps / 3);
        orders.insert(orders.end(), {1, 2});
      }
    } else if (order == 2) {
      if (steps % 2 == 0) {
        orders = repeat({1, 2}, steps / 2 - 1);
        orders.insert(orders.end(), {1, 1});
      } else {
        orders = repeat({1, 2}, steps / 2);
        orders.push_back(1);
      }
    } else {
      orders.assign(static_cast<size_t>(steps), 1);
    }
  } else if (order == 3) {
    orders = repeat({1, 2, 3}, steps / 3);
  } else if (order == 2) {
    orders = repeat({1, 2}, steps / 2);
  } else {
    orders.assign(static_cast<size_t>(steps), 1);
  }
  if (config_.final_sigmas_type == FinalSigmasType::Zero && !orders.empty()) orders.back() = 1;
  return orders;
}

void DPMSolverSinglestepScheduler::set_timesteps(int64_t n) {
  if (n < 1) throw ArgumentError("num_inference_steps must be at least 1, got " + std::to_string(n));
  const int64_t T = config_.num_train_timesteps;
  const int64_t clipped = detail::dpm_clipped_timesteps(lambda_t_, config_.lambda_min_clipped);
  std::vector<int64_t> timesteps = solver_timesteps(TimestepSpacing::Linspace, T - clipped, T, n, 0);
  std::vector<double> sigmas;
  const SigmaKind kind = detail::sigma_kind(config_);
  if (kind != SigmaKind::Plain) {
    // the whole training range (np.flip(sigmas): in_sigmas[-1] is the smallest)
    sigmas = converted_sigmas(kind, train_sigmas_.front(), train_sigmas_.back(), n);
    timesteps.clear();
    for (double s : sigmas) {
      const double t = sigma_to_t(s, log_sigmas_);
      timesteps.push_back(static_cast<int64_t>(kind == SigmaKind::Karras ? std::nearbyint(t) : t));  // .astype(int64)
    }
  } else {
    sigmas = interp_by_index(std::vector<float>(timesteps.begin(), timesteps.end()), train_sigmas_);
  }
  finish_schedule(timesteps, std::move(sigmas));
}

void DPMSolverSinglestepScheduler::set_timesteps_from(const std::vector<int64_t>& timesteps) {
  if (detail::sigma_kind(config_) != SigmaKind::Plain) {
    throw ArgumentError("Cannot use `timesteps` with use_karras_sigmas, use_exponential_sigmas or use_beta_sigmas");
  }
  if (timesteps.empty()) throw ArgumentError("timesteps must not be empty");
  for (int64_t t : timesteps) {
    if (t < 0 || t >= config_.num_train_timesteps) {
      throw ArgumentError("timestep " + std::to_string(t) + " is outside the noise schedule: valid timesteps are 0 to " +
                          std::to_string(config_.num_train_timesteps - 1));
    }
  }
  finish_schedule(timesteps, interp_by_index(std::vector<float>(timesteps.begin(), timesteps.end()), train_sigmas_));
}

void DPMSolverSinglestepScheduler::finish_schedule(const std::vector<int64_t>& timesteps, std::vector<double> sigmas) {
  const auto n = static_cast<int64_t>(timesteps.size());
  const double sigma_last = config_.final_sigmas_type == FinalSigmasType::SigmaMin
                                ? static_cast<double>(torch_sqrt((1.0f - alphas_cumprod_[0]) / alphas_cumprod_[0]))
                                : 0.0;
  std::vector<float> sigmas_f32(sigmas.begin(), sigmas.end());
  sigmas_f32.push_back(static_cast<float>(sigma_last));
  stepper_.reset(std::vector<float>(timesteps.begin(), timesteps.end()), std::move(sigmas_f32));
  num_inference_steps_ = n;
  // as diffusers (register_to_config): uneven step counts and a zero final sigma need the lower-order end
  if (!config_.lower_order_final && n % config_.solver_order != 0) config_.lower_order_final = true;
  if (!config_.lower_order_final && config_.final_sigmas_type == FinalSigmasType::Zero) config_.lower_order_final = true;
  order_list_ = order_list(n);
  filled_ = 0;
  dtype_bytes_ = 0;
  loop_numel_ = -1;
}

template <typename T>
DPMSolverSinglestepScheduler::Loop<T>& DPMSolverSinglestepScheduler::loop() {
  if constexpr (std::is_same_v<T, float>) {
    return loop_f32_;
  } else {
    return loop_f64_;
  }
}

template <typename T>
void DPMSolverSinglestepScheduler::convert_model_output(const T* mo, const T* x, const Shape& shape, float sigma, T* out) const {
  detail::dpm_convert_model_output<T>(detail::dpm_output_conversion(config_), mo, x, shape, sigma, out);
}

template <typename T>
void DPMSolverSinglestepScheduler::update(int order, const T* const* m, const T* x, const T* noise, int64_t n,
                                          T* out) const {
  const int64_t index = *stepper_.step_index();
  const std::vector<float>& sigmas = stepper_.sigmas();
  const VPCoefficients t = vp_coefficients(sigmas[index + 1]);
  const auto C = [](float v) { return static_cast<T>(v); };
  const DPMAlgorithm algorithm = config_.algorithm_type;
  const bool midpoint = config_.solver_type == DPMSolverType::Midpoint;
  if (order == 1) {  // dpm_solver_first_order_update from s = sigmas[index]
    const VPCoefficients s = vp_coefficients(sigmas[index]);
    const float h = t.lambda - s.lambda;
    const T* m0 = m[0];
    switch (algorithm) {
      case DPMAlgorithm::DPMSolverPP: {
        const T a = C(t.sigma / s.sigma), b = C(t.alpha * (std::exp(-h) - 1.0f));
        detail::dpm_update(detail::DPMUpdate<T>{x, m0, nullptr, a, b, T(0), T(0), true, n, out});  // a x - b m0
        break;
      }
      case DPMAlgorithm::DPMSolver: {
        const T a = C(t.alpha / s.alpha), b = C(t.sigma * (std::exp(h) - 1.0f));
        detail::dpm_update(detail::DPMUpdate<T>{x, m0, nullptr, a, b, T(0), T(0), true, n, out});
        break;
      }
      default: {  // sde-dpmsolver++
        const float e = std::exp(-h), e2 = std::exp(-2.0f * h);
        const T a = C(t.sigma / s.sigma * e), b = C(t.alpha * (1.0f - e2)), c = C(t.sigma * torch_sqrt(1.0f - e2));
        for (int64_t i = 0; i < n; ++i) out[i] = (a * x[i] + b * m0[i]) + c * noise[i];
        break;
      }
    }
    return;
  }
  if (order == 2) {  // singlestep_dpm_solver_second_order_update: from s1 = sigmas[index - 1] over two steps
    const VPCoefficients s0 = vp_coefficients(sigmas[index]), s1 = vp_coefficients(sigmas[index - 1]);
    const float h = t.lambda - s1.lambda, h_0 = s0.lambda - s1.lambda;
    const float r0 = h_0 / h;
    const T k = C(1.0f / r0);  // D0 = m1, D1 = (1 / r0) * (m0 - m1)
    const T *m0 = m[0], *m1 = m[1];
    switch (algorithm) {
      case DPMAlgorithm::DPMSolverPP: {
        const float coef = t.alpha * (std::exp(-h) - 1.0f);
        const T a = C(t.sigma / s1.sigma), b = C(coef);
        const T c = midpoint ? C(0.5f * coef) : C(t.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f));
        // midpoint: (a x - b m1) - c d1; heun: + c d1, with d1 = k (m0 - m1)
        detail::dpm_update(detail::DPMUpdate<T>{x, m1, m0, a, b, c, k, !midpoint, n, out});
        break;
      }
      case DPMAlgorithm::DPMSolver: {
        const float coef = t.sigma * (std::exp(h) - 1.0f);
        const T a = C(t.alpha / s1.alpha), b = C(coef);
        const T c = midpoint ? C(0.5f * coef) : C(t.sigma * ((std::exp(h) - 1.0f) / h - 1.0f));
        detail::dpm_update(detail::DPMUpdate<T>{x, m1, m0, a, b, c, k, false, n, out});  // (a x - b m1) - c d1
        break;
      }
      default: {  // sde-dpmsolver++
        const float e = std::exp(-h), e2 = std::exp(-2.0f * h);
        const float coef = t.alpha * (1.0f - e2);
        const T a = C(t.sigma / s1.sigma * e), b = C(coef);
        const T c = midpoint ? C(0.5f * coef) : C(t.alpha * ((1.0f - e2) / (-2.0f * h) + 1.0f));
        const T d = C(t.sigma * torch_sqrt(1.0f - e2));
        for (int64_t i = 0; i < n; ++i) out[i] = ((a * x[i] + b * m1[i]) + c * (k * (m0[i] - m1[i]))) + d * noise[i];
        break;
      }
    }
    return;
  }
  // singlestep_dpm_solver_third_order_update: from s2 = sigmas[index - 2] over three steps
  const VPCoefficients s0 = vp_coefficients(sigmas[index]), s1 = vp_coefficients(sigmas[index - 1]),
                       s2 = vp_coefficients(sigmas[index - 2]);
  const float h = t.lambda - s2.lambda, h_0 = s0.lambda - s2.lambda, h_1 = s1.lambda - s2.lambda;
  const float r0 = h_0 / h, r1 = h_1 / h;
  const T k0 = C(1.0f / r0), k1 = C(1.0f / r1), tr0 = C(r0), tr1 = C(r1), diff = C(r0 - r1);
  const T *m0 = m[0], *m1 = m[1], *m2 = m[2];
  // D0 = m2; D1_0 = (1 / r1) (m1 - m2); D1_1 = (1 / r0) (m0 - m2); D1 = (r0 D1_0 - r1 D1_1) / (r0 - r1);
  // D2 = 2 (D1_1 - D1_0) / (r0 - r1)
  const auto terms = [&](int64_t i, T& d1_1, T& d1, T& d2) {
    const T d1_0 = k1 * (m1[i] - m2[i]);
    d1_1 = k0 * (m0[i] - m2[i]);
    d1 = (tr0 * d1_0 - tr1 * d1_1) / diff;
    d2 = (T(2) * (d1_1 - d1_0)) / diff;
  };
  switch (algorithm) {
    case DPMAlgorithm::DPMSolverPP: {
      const float em1 = std::exp(-h) - 1.0f;
      const T a = C(t.sigma / s2.sigma), b = C(t.alpha * em1), c = C(t.alpha * (em1 / h + 1.0f));
      const T c2 = C(t.alpha * ((std::exp(-h) - 1.0f + h) / (h * h) - 0.5f));
      for (int64_t i = 0; i < n; ++i) {
        T d1_1, d1, d2;
        terms(i, d1_1, d1, d2);
        out[i] = midpoint ? (a * x[i] - b * m2[i]) + c * d1_1 : ((a * x[i] - b * m2[i]) + c * d1) - c2 * d2;
      }
      break;
    }
    case DPMAlgorithm::DPMSolver: {
      const float ep1 = std::exp(h) - 1.0f;
      const T a = C(t.alpha / s2.alpha), b = C(t.sigma * ep1), c = C(t.sigma * (ep1 / h - 1.0f));
      const T c2 = C(t.sigma * ((std::exp(h) - 1.0f - h) / (h * h) - 0.5f));
      for (int64_t i = 0; i < n; ++i) {
        T d1_1, d1, d2;
        terms(i, d1_1, d1, d2);
        out[i] = midpoint ? (a * x[i] - b * m2[i]) - c * d1_1 : ((a * x[i] - b * m2[i]) - c * d1) - c2 * d2;
      }
      break;
    }
    default: {  // sde-dpmsolver++
      const float e = std::exp(-h), e2 = std::exp(-2.0f * h);
      const float minus_2h = -2.0f * h;
      const T a = C(t.sigma / s2.sigma * e), b = C(t.alpha * (1.0f - e2)),
              c = C(t.alpha * ((1.0f - e2) / minus_2h + 1.0f));
      const T c2 = C(t.alpha * ((1.0f - e2 + minus_2h) / (minus_2h * minus_2h) - 0.5f));
      const T d = C(t.sigma * torch_sqrt(1.0f - e2));
      for (int64_t i = 0; i < n; ++i) {
        T d1_1, d1, d2;
        terms(i, d1_1, d1, d2);
        out[i] = midpoint ? ((a * x[i] + b * m2[i]) + c * d1_1) + d * noise[i]
                          : (((a * x[i] + b * m2[i]) + c * d1) + c2 * d2) + d * noise[i];
      }
      break;
    }
  }
}

template <typename T>
void DPMSolverSinglestepScheduler::step(const T* model_output, double timestep, const T* sample, const Shape& shape,
                                        const T* noise, Generator* generator, T* prev_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n)) {
    throw ArgumentError("DPMSolverSinglestepScheduler.step: prev_sample must not overlap model_output or sample");
  }
  if (!num_inference_steps_) {
    throw ArgumentError("Number of inference steps is not set: call set_timesteps(n) before step()");
  }
  const bool sde = config_.algorithm_type == DPMAlgorithm::SDEDPMSolverPP;
  if (sde && noise && generator) throw ArgumentError("Cannot pass both generator and noise");
  if (sde && !noise && !generator) throw ArgumentError("sde-dpmsolver++ needs noise or a generator");
  const int64_t index = stepper_.current_index(timestep, /*missing_is_last=*/true);
  const bool first = loop_numel_ < 0;
  detail::enter_loop_step<T>(dtype_bytes_, loop_numel_, shape, "DPMSolverSinglestepScheduler.step()");
  Loop<T>& state = loop<T>();
  const int slots = static_cast<int>(config_.solver_order);
  if (first) {
    for (auto& slot : state.outputs) slot.assign(static_cast<size_t>(n), T(0));
    state.group_sample.assign(static_cast<size_t>(n), T(0));
  }
  // model_outputs[i] = model_outputs[i + 1]; model_outputs[-1] = the converted output
  std::rotate(state.outputs.begin(), state.outputs.begin() + 1, state.outputs.begin() + slots);
  convert_model_output(model_output, sample, shape, stepper_.sigmas()[index], state.outputs[slots - 1].data());
  filled_ = std::min<int64_t>(filled_ + 1, slots);
  std::vector<T> drawn;
  if (sde && !noise) {
    drawn.resize(static_cast<size_t>(n));
    generator->randn(drawn.data(), n);
    noise = drawn.data();
  }
  int order = order_list_[static_cast<size_t>(index)];
  while (order > filled_) --order;  // while model_outputs[-order] is None
  if (order == 1) std::copy(sample, sample + n, state.group_sample.begin());
  const T* outputs[3] = {state.outputs[slots - 1].data(), slots >= 2 ? state.outputs[slots - 2].data() : nullptr,
                         slots >= 3 ? state.outputs[slots - 3].data() : nullptr};
  update<T>(order, outputs, state.group_sample.data(), sde ? noise : nullptr, n, prev_sample);
  stepper_.advance();
}

template void DPMSolverSinglestepScheduler::step<float>(const float*, double, const float*, const Shape&, const float*,
                                                        Generator*, float*);
template void DPMSolverSinglestepScheduler::step<double>(const double*, double, const double*, const Shape&,
                                                         const double*, Generator*, double*);

}  // namespace ortdiffusion
