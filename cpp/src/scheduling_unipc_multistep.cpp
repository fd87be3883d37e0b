// Mirrors diffusers.schedulers.scheduling_unipc_multistep.UniPCMultistepScheduler (__init__, set_timesteps,
// convert_model_output, multistep_uni_p_bh_update, multistep_uni_c_bh_update, step). Scalars are float32 like
// diffusers' 0-d tensors; every tensor expression is evaluated in Python's order, each intermediate rounded
// to the element type.
//
// Notation (Zhao et al. 2023, Algorithms 1-2): h = lambda_t - lambda_s0, r_k = (lambda_{s_k} - lambda_s0) / h,
// D1_k = (m_k - m0) / r_k, hh = -h for data prediction, phi_1 = expm1(hh), B(h) = hh (bh1) or expm1(hh) (bh2);
// the coefficients rho solve R rho = b with R[i][k] = r_k^i and b_i = (i+1)! h phi_{i+1} / B(h).
#include "ortdiffusion/scheduling_unipc_multistep.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "loop_history.hpp"
#include "config_reader.hpp"
#include "ortdiffusion/errors.hpp"
#include "solver_kernels.hpp"
#include "ortdiffusion/sigma_schedule.hpp"
#include "ortdiffusion/thresholding.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {
namespace {

// Solves a x = b for a small dense system in float32 as LAPACK's sgesv: LU with partial pivoting (the
// first largest |pivot| wins), forward then back substitution. `a` is row-major n x n.
std::vector<float> solve_small(std::vector<float> a, std::vector<float> b, int n) {
  std::vector<int> perm(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) perm[i] = i;
  for (int k = 0; k < n; ++k) {
    int pivot = k;
    for (int i = k + 1; i < n; ++i) {
      if (std::fabs(a[i * n + k]) > std::fabs(a[pivot * n + k])) pivot = i;
    }
    if (a[pivot * n + k] == 0.0f) throw ArgumentError("UniPC: the coefficient system of this step is singular (an infinite or repeated "
                          "log-SNR step, as the final zero sigma with lower_order_final=False gives; diffusers fails "
                          "there too): keep lower_order_final=True or use final_sigmas_type='sigma_min'");
    if (pivot != k) {
      for (int j = 0; j < n; ++j) std::swap(a[k * n + j], a[pivot * n + j]);
      std::swap(b[k], b[pivot]);
    }
    const float inverse = 1.0f / a[k * n + k];
    for (int i = k + 1; i < n; ++i) {
      const float factor = a[i * n + k] * inverse;
      a[i * n + k] = factor;
      for (int j = k + 1; j < n; ++j) a[i * n + j] -= factor * a[k * n + j];
    }
  }
  for (int i = 1; i < n; ++i) {
    for (int j = 0; j < i; ++j) b[i] -= a[i * n + j] * b[j];
  }
  for (int i = n - 1; i >= 0; --i) {
    for (int j = i + 1; j < n; ++j) b[i] -= a[i * n + j] * b[j];
    b[i] /= a[i * n + i];
  }
  return b;
}

// torch.pow(x, k) for a small integer k as torch computes it on float32: 1, x, x * x, x * x * x, else powf.
float integer_power(float x, int k) {
  switch (k) {
    case 0: return 1.0f;
    case 1: return x;
    case 2: return x * x;
    case 3: return x * x * x;
    default: return std::pow(x, static_cast<float>(k));
  }
}

// The scalars shared by predictor and corrector: hh, h_phi_1, B(h), and R, b of `order` rows.
struct UniCoefficients {
  float hh, h_phi_1, B_h;
  std::vector<float> rks;  // r_1 .. r_{order-1}, then 1
  std::vector<float> R, b;  // order x order (row i: rks ** i), order
};

UniCoefficients coefficients(float h, const std::vector<float>& rks_in, int order, bool predict_x0, bool bh1) {
  UniCoefficients c;
  c.rks = rks_in;
  c.rks.push_back(1.0f);
  c.hh = predict_x0 ? -h : h;
  c.h_phi_1 = std::expm1(c.hh);  // h phi_1(h) = e^h - 1
  float h_phi_k = c.h_phi_1 / c.hh - 1.0f;
  double factorial_i = 1;
  c.B_h = bh1 ? c.hh : std::expm1(c.hh);
  const int k = static_cast<int>(c.rks.size());
  for (int i = 1; i <= order; ++i) {
    for (int j = 0; j < k; ++j) {
      c.R.push_back(integer_power(c.rks[j], i - 1));
    }
    c.b.push_back(h_phi_k * static_cast<float>(factorial_i) / c.B_h);
    factorial_i *= i + 1;
    h_phi_k = h_phi_k / c.hh - static_cast<float>(1.0 / factorial_i);
  }
  return c;
}

// The leading `rows` x `rows` block of the row-major order x k matrix R, and the first `rows` of b.
std::vector<float> rhos(const UniCoefficients& c, int rows) {
  const int k = static_cast<int>(c.rks.size());
  std::vector<float> a;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < rows; ++j) a.push_back(c.R[i * k + j]);
  }
  return solve_small(a, std::vector<float>(c.b.begin(), c.b.begin() + rows), rows);
}

}  // namespace

UniPCMultistepScheduler::UniPCMultistepScheduler(UniPCConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps,
                      config_.trained_betas ? &*config_.trained_betas : nullptr, config_.rescale_betas_zero_snr);
  alphas_cumprod_ = sigma_alphas_cumprod(betas_, config_.rescale_betas_zero_snr);
  train_sigmas_ = training_sigmas(alphas_cumprod_);
  log_sigmas_ = log_f32(train_sigmas_);
  const std::vector<double> t = numpy_linspace(0.0, static_cast<double>(config_.num_train_timesteps - 1),
                                               config_.num_train_timesteps);
  std::vector<float> sigmas = train_sigmas_;
  sigmas.push_back(0.0f);
  stepper_.reset(std::vector<float>(t.rbegin(), t.rend()), std::move(sigmas));
}

void UniPCMultistepScheduler::set_timesteps(int64_t n) {
  const int64_t T = config_.num_train_timesteps;
  std::vector<int64_t> timesteps = solver_timesteps(config_.timestep_spacing, T, T, n, config_.steps_offset);
  const bool karras = config_.use_karras_sigmas.value_or(false);
  const bool exponential = config_.use_exponential_sigmas.value_or(false) || config_.use_beta_sigmas.value_or(false);  // beta sigmas' timesteps as exponential's
  std::vector<float> sigmas_f32;
  if (karras || exponential) {
    const double sigma_min = config_.sigma_min.value_or(train_sigmas_.front());
    const double sigma_max = config_.sigma_max.value_or(train_sigmas_.back());
    const std::vector<double> sigmas =
        converted_sigmas(detail::sigma_kind(config_), sigma_min, sigma_max, n);
    timesteps.clear();
    for (double s : sigmas) {
      const double t = sigma_to_t(s, log_sigmas_);
      timesteps.push_back(static_cast<int64_t>(karras ? std::nearbyint(t) : t));  // Karras: .round()
    }
    sigmas_f32.assign(sigmas.begin(), sigmas.end());
    // final sigma: the last of these sigmas, or zero
    sigmas_f32.push_back(config_.final_sigmas_type == FinalSigmasType::SigmaMin ? static_cast<float>(sigmas.back()) : 0.0f);
  } else {
    std::vector<float> as_float(timesteps.begin(), timesteps.end());
    const std::vector<double> sigmas = interp_by_index(as_float, train_sigmas_);
    sigmas_f32.assign(sigmas.begin(), sigmas.end());
    sigmas_f32.push_back(config_.final_sigmas_type == FinalSigmasType::SigmaMin
                             ? torch_sqrt((1.0f - alphas_cumprod_[0]) / alphas_cumprod_[0])
                             : 0.0f);
  }
  stepper_.reset(std::vector<float>(timesteps.begin(), timesteps.end()), std::move(sigmas_f32));
  num_inference_steps_ = static_cast<int64_t>(timesteps.size());
  lower_order_nums_ = 0;
  this_order_ = 0;
  history_dtype_bytes_ = 0;
  history_f32_.numel = history_f64_.numel = -1;
  history_f32_.has_last_sample = history_f64_.has_last_sample = false;
}

template <typename T>
UniPCHistory<T>& UniPCMultistepScheduler::history(const Shape& shape) {
  UniPCHistory<T>& h = detail::history_of<T>(history_f32_, history_f64_);
  const bool first = h.numel < 0;
  const int64_t n = detail::enter_loop_step<T>(history_dtype_bytes_, h.numel, shape, "step()");
  if (first) {
    h.outputs.assign(static_cast<size_t>(config_.solver_order), std::vector<T>(static_cast<size_t>(n), T(0)));
    h.last_sample.assign(static_cast<size_t>(n), T(0));
    h.corrected.assign(static_cast<size_t>(n), T(0));
  }
  return h;
}

template <typename T>
void UniPCMultistepScheduler::convert_model_output(const T* mo, const T* x, const Shape& shape, float sigma, T* out) const {
  const int64_t n = shape_numel(shape);
  const VPCoefficients s = vp_coefficients(sigma);
  const auto a = static_cast<T>(s.alpha), sg = static_cast<T>(s.sigma);
  if (config_.predict_x0) {
    switch (config_.prediction_type) {
      case PredictionType::Epsilon:
        detail::scaled_difference_quotient(x, mo, n, sg, a, out);  // (x - sigma_t eps) / alpha_t
        break;
      case PredictionType::Sample:
        std::copy(mo, mo + n, out);
        break;
      case PredictionType::VPrediction:
        for (int64_t i = 0; i < n; ++i) out[i] = a * x[i] - sg * mo[i];
        break;
    }
    if (config_.thresholding) {
      if (shape.size() < 2) throw ArgumentError("thresholding needs a sample of at least 2 dimensions (batch, ...)");
      threshold_sample(out, shape[0], shape[0] == 0 ? 0 : n / shape[0], config_.dynamic_thresholding_ratio,
                       config_.sample_max_value);
    }
    return;
  }
  switch (config_.prediction_type) {
    case PredictionType::Epsilon:
      std::copy(mo, mo + n, out);
      break;
    case PredictionType::Sample:
      detail::scaled_difference_quotient(x, mo, n, a, sg, out);  // (x - alpha_t x_0) / sigma_t
      break;
    case PredictionType::VPrediction:
      for (int64_t i = 0; i < n; ++i) out[i] = a * mo[i] + sg * x[i];
      break;
  }
}

template <typename T>
void UniPCMultistepScheduler::predictor(const UniPCHistory<T>& h, const T* x, int order, int64_t n, T* out) const {
  const int64_t index = *stepper_.step_index();
  const std::vector<float>& sigmas = stepper_.sigmas();
  const VPCoefficients t = vp_coefficients(sigmas[index + 1]);
  const VPCoefficients s0 = vp_coefficients(sigmas[index]);
  const float hstep = t.lambda - s0.lambda;
  const int last = static_cast<int>(config_.solver_order) - 1;
  const T* m0 = h.outputs[last].data();
  std::vector<float> rks;
  std::vector<const T*> mis;
  for (int i = 1; i < order; ++i) {
    const VPCoefficients si = vp_coefficients(sigmas[index - i]);
    rks.push_back((si.lambda - s0.lambda) / hstep);
    mis.push_back(h.outputs[last - i].data());
  }
  const UniCoefficients c = coefficients(hstep, rks, order, config_.predict_x0, config_.solver_type == UniPCSolverType::BH1);
  std::vector<float> rho;
  if (!rks.empty()) rho = order == 2 ? std::vector<float>{0.5f} : rhos(c, order - 1);
  const T a = static_cast<T>(config_.predict_x0 ? t.sigma / s0.sigma : t.alpha / s0.alpha);
  const T b = static_cast<T>((config_.predict_x0 ? t.alpha : t.sigma) * c.h_phi_1);
  const T d = static_cast<T>((config_.predict_x0 ? t.alpha : t.sigma) * c.B_h);
  // x_t = (a x - b m0) - d pred_res, pred_res = einsum("k,bkc...->bc...", rhos_p, D1s), D1s[k] = (m_k - m0) / r_k
  detail::unipc_update(detail::UniPCUpdate<T>{x, m0, mis.data(), rks.data(), rho.data(), static_cast<int>(rks.size()),
                                              nullptr, T(0), a, b, d, n, out});
}

template <typename T>
void UniPCMultistepScheduler::corrector(const UniPCHistory<T>& h, const T* model_t, const T* x, int order, int64_t n,
                                        T* out) const {
  const int64_t index = *stepper_.step_index();
  const std::vector<float>& sigmas = stepper_.sigmas();
  const VPCoefficients t = vp_coefficients(sigmas[index]);
  const VPCoefficients s0 = vp_coefficients(sigmas[index - 1]);
  const float hstep = t.lambda - s0.lambda;
  const int last = static_cast<int>(config_.solver_order) - 1;
  const T* m0 = h.outputs[last].data();  // the previous step's converted output (before this step's shift)
  std::vector<float> rks;
  std::vector<const T*> mis;
  for (int i = 1; i < order; ++i) {
    const VPCoefficients si = vp_coefficients(sigmas[index - (i + 1)]);
    rks.push_back((si.lambda - s0.lambda) / hstep);
    mis.push_back(h.outputs[last - i].data());
  }
  const UniCoefficients c = coefficients(hstep, rks, order, config_.predict_x0, config_.solver_type == UniPCSolverType::BH1);
  const std::vector<float> rho = order == 1 ? std::vector<float>{0.5f} : rhos(c, order);
  const T a = static_cast<T>(config_.predict_x0 ? t.sigma / s0.sigma : t.alpha / s0.alpha);
  const T b = static_cast<T>((config_.predict_x0 ? t.alpha : t.sigma) * c.h_phi_1);
  const T d = static_cast<T>((config_.predict_x0 ? t.alpha : t.sigma) * c.B_h);
  // x_t = (a x - b m0) - d (corr_res + rho_t D1_t), D1_t = model_t - m0
  detail::unipc_update(detail::UniPCUpdate<T>{x, m0, mis.data(), rks.data(), rho.data(), static_cast<int>(rks.size()),
                                              model_t, static_cast<T>(rho.back()), a, b, d, n, out});
}

template <typename T>
void UniPCMultistepScheduler::step(const T* model_output, double timestep, const T* sample, const Shape& shape,
                                   T* prev_sample) {
  const int64_t n = shape_numel(shape);
  if (buffers_overlap(prev_sample, sample, n) || buffers_overlap(prev_sample, model_output, n)) {
    throw ArgumentError("UniPCMultistepScheduler.step: prev_sample must not overlap model_output or sample");
  }
  if (!num_inference_steps_) {
    throw ArgumentError("Number of inference steps is not set: call set_timesteps(n) before step()");
  }
  const int64_t index = stepper_.current_index(timestep, /*missing_is_last=*/true);
  UniPCHistory<T>& h = history<T>(shape);
  const bool disabled = std::find(config_.disable_corrector.begin(), config_.disable_corrector.end(), index - 1) !=
                        config_.disable_corrector.end();
  const bool use_corrector = index > 0 && !disabled && h.has_last_sample;
  // the converted output of this step, into the slot that becomes the newest after the shift
  std::vector<T> converted = std::move(h.spare);
  converted.resize(static_cast<size_t>(n));
  convert_model_output(model_output, sample, shape, stepper_.sigmas()[index], converted.data());
  const T* x = sample;
  if (use_corrector) {
    corrector<T>(h, converted.data(), h.last_sample.data(), static_cast<int>(this_order_), n, h.corrected.data());
    x = h.corrected.data();
  }
  const int order_slots = static_cast<int>(config_.solver_order);
  std::rotate(h.outputs.begin(), h.outputs.begin() + 1, h.outputs.begin() + order_slots);
  h.outputs[order_slots - 1].swap(converted);
  h.spare = std::move(converted);
  const auto count = static_cast<int64_t>(stepper_.timesteps().size());
  int64_t this_order = config_.lower_order_final ? std::min<int64_t>(config_.solver_order, count - index)
                                                 : config_.solver_order;
  this_order_ = std::min(this_order, lower_order_nums_ + 1);  // warm-up for multistep
  if (x != h.last_sample.data()) std::copy(x, x + n, h.last_sample.begin());
  h.has_last_sample = true;
  predictor<T>(h, h.last_sample.data(), static_cast<int>(this_order_), n, prev_sample);
  if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
  stepper_.advance();
}

template void UniPCMultistepScheduler::step<float>(const float*, double, const float*, const Shape&, float*);
template void UniPCMultistepScheduler::step<double>(const double*, double, const double*, const Shape&, double*);

}  // namespace ortdiffusion
