// Mirrors diffusers.schedulers.scheduling_pndm.PNDMScheduler (__init__, set_timesteps, step, step_prk,
// step_plms, _get_prev_sample). Scalars are float32 like diffusers' 0-d float32 tensors; element-wise
// work runs in the tensor's dtype, one rounded operation at a time in diffusers' order (the core is
// built with -ffp-contract=off). Python float constants (1/6, 1/24) are rounded to the tensor's dtype,
// as torch does for a Python scalar.
#include "ortdiffusion/scheduling_pndm.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <type_traits>

#include "ortdiffusion/errors.hpp"
#include "loop_history.hpp"
#include "plms_kernel.hpp"
#include "ortdiffusion/forward_process.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {

template <typename T>
T* PNDMHistory<T>::push_slot(int64_t n) {
  int slot;
  if (ets_count < 4) {
    slot = (ets_start + ets_count) % 4;
    ++ets_count;
  } else {  // drop the oldest: its buffer takes the newest
    slot = ets_start;
    ets_start = (ets_start + 1) % 4;
  }
  ets[slot].resize(static_cast<size_t>(n));
  return ets[slot].data();
}

template <typename T>
void PNDMHistory<T>::push(const T* model_output, int64_t n) {
  std::copy(model_output, model_output + n, push_slot(n));
}

PNDMScheduler::PNDMScheduler(PNDMConfig config) : config_(std::move(config)) {
  betas_ = make_betas(config_.beta_schedule, config_.beta_start, config_.beta_end, config_.num_train_timesteps,
                      config_.trained_betas ? &*config_.trained_betas : nullptr, /*rescale_betas_zero_snr=*/false);
  alphas_cumprod_ = alphas_cumprod_from_betas(betas_);
  final_alpha_cumprod_ = config_.set_alpha_to_one ? 1.0f : alphas_cumprod_.front();
}

void PNDMScheduler::set_timesteps(int64_t num_inference_steps) {
  const int64_t T = config_.num_train_timesteps;
  const int64_t n = num_inference_steps;
  if (!config_.skip_prk_steps && n < pndm_order()) {
    throw ArgumentError("PNDMScheduler with skip_prk_steps=False needs at least 4 inference steps (its Runge-Kutta "
                        "warm-up runs on the last 4 timesteps), got num_inference_steps=" +
                        std::to_string(n) + "; use more steps or skip_prk_steps=True");
  }
  // self._timesteps, ascending: the same spacings as DDIM's set_timesteps, in the other order.
  std::vector<int64_t> ascending = spaced_timesteps(config_.timestep_spacing, T, n, config_.steps_offset);
  std::reverse(ascending.begin(), ascending.end());
  const auto len = static_cast<int64_t>(ascending.size());
  prk_timesteps_.clear();
  plms_timesteps_.clear();
  if (config_.skip_prk_steps) {
    // plms = concatenate([_timesteps[:-1], _timesteps[-2:-1], _timesteps[-1:]])[::-1]: the second-to-last
    // timestep twice (crowsonkb's PLMS: the first step is repeated as a second-order warm-up).
    std::vector<int64_t> forward(ascending.begin(), ascending.end() - 1);
    if (len >= 2) forward.push_back(ascending[len - 2]);
    forward.push_back(ascending[len - 1]);
    plms_timesteps_.assign(forward.rbegin(), forward.rend());
  } else {
    // prk = (_timesteps[-4:].repeat(2) + tile([0, T // n // 2], 4))[:-1].repeat(2)[1:-1][::-1]
    const int64_t half = T / n / 2;
    std::vector<int64_t> pairs;
    for (int64_t i = len - pndm_order(); i < len; ++i) {
      pairs.push_back(ascending[i]);
      pairs.push_back(ascending[i] + half);
    }
    pairs.pop_back();
    std::vector<int64_t> doubled;
    for (int64_t t : pairs) doubled.insert(doubled.end(), 2, t);
    prk_timesteps_.assign(doubled.rbegin() + 1, doubled.rend() - 1);
    // plms = _timesteps[:-3][::-1]
    plms_timesteps_.assign(ascending.rbegin() + 3, ascending.rend());
  }
  timesteps_ = prk_timesteps_;
  timesteps_.insert(timesteps_.end(), plms_timesteps_.begin(), plms_timesteps_.end());
  num_inference_steps_ = n;
  counter_ = 0;
  history_dtype_bytes_ = 0;
  history_f32_.reset();
  history_f64_.reset();
}

template <typename T>
PNDMHistory<T>& PNDMScheduler::history(const Shape& shape, const char* what) {
  if (!num_inference_steps_) {
    throw ArgumentError(std::string("Number of inference steps is not set: call set_timesteps(n) before ") + what);
  }
  PNDMHistory<T>& h = detail::history_of<T>(history_f32_, history_f64_);
  detail::enter_loop_step<T>(history_dtype_bytes_, h.numel, shape, what);
  return h;
}

template <typename T>
void PNDMScheduler::prev_sample(const T* sample, int64_t timestep, int64_t prev_timestep, const T* model_output,
                                int64_t n, T* out, int plms_order, const std::array<const T*, 3>& older, T* keep) const {
  check_timestep(alphas_cumprod_, timestep, "timestep");
  if (prev_timestep >= 0) check_timestep(alphas_cumprod_, prev_timestep, "previous timestep");
  const float alpha_prod_t = alphas_cumprod_[timestep];
  const float alpha_prod_t_prev = prev_timestep >= 0 ? alphas_cumprod_[prev_timestep] : final_alpha_cumprod_;
  const float beta_prod_t = 1.0f - alpha_prod_t;
  const float beta_prod_t_prev = 1.0f - alpha_prod_t_prev;
  // corresponds to (alpha_(t-δ) - alpha_t) divided by the denominator of x_t in formula (9), plus 1:
  // sqrt(alpha_(t-δ)) / sqrt(alpha_t)
  const auto sample_coeff = static_cast<T>(torch_sqrt(alpha_prod_t_prev / alpha_prod_t));
  // denominator of e_θ(x_t, t) in formula (9)
  const auto denom = static_cast<T>(alpha_prod_t * torch_sqrt(beta_prod_t_prev) +
                                    torch_sqrt(alpha_prod_t * beta_prod_t * alpha_prod_t_prev));
  const auto difference = static_cast<T>(alpha_prod_t_prev - alpha_prod_t);
  if (config_.prediction_type == PredictionType::VPrediction) {
    // model_output = sqrt(alpha_prod_t) * v + sqrt(beta_prod_t) * x_t  (epsilon from v)
    const auto sa = static_cast<T>(torch_sqrt(alpha_prod_t));
    const auto sb = static_cast<T>(torch_sqrt(beta_prod_t));
    for (int64_t i = 0; i < n; ++i) {
      const T eps = sa * model_output[i] + sb * sample[i];
      out[i] = sample_coeff * sample[i] - difference * eps / denom;
    }
    return;
  }
  // full formula (9); with plms_order > 0 (step_plms, epsilon prediction only) this step's combination of model
  // outputs and the history's copy are fused into the same pass (plms_kernel.hpp)
  detail::plms_update(detail::PlmsUpdate<T>{model_output, sample, {older[0], older[1], older[2]}, std::max(plms_order, 1),
                                            keep, sample_coeff, difference, denom, n, out});
}

template <typename T>
void PNDMScheduler::step(const T* model_output, int64_t timestep, const T* sample, const Shape& shape,
                         T* prev_sample_out) {
  if (counter_ < static_cast<int64_t>(prk_timesteps_.size()) && !config_.skip_prk_steps) {
    step_prk(model_output, timestep, sample, shape, prev_sample_out);
  } else {
    step_plms(model_output, timestep, sample, shape, prev_sample_out);
  }
}

template <typename T>
void PNDMScheduler::step_prk(const T* model_output, int64_t timestep, const T* sample, const Shape& shape,
                             T* prev_sample_out) {
  PNDMHistory<T>& h = history<T>(shape, "step_prk()");
  const int64_t n = h.numel;
  if (buffers_overlap(prev_sample_out, model_output, n) || buffers_overlap(prev_sample_out, sample, n)) {
    throw ArgumentError("PNDMScheduler.step: prev_sample must not overlap model_output or sample");
  }
  if (counter_ >= static_cast<int64_t>(prk_timesteps_.size())) {
    throw ArgumentError("step_prk(): the " + std::to_string(prk_timesteps_.size()) +
                        " Runge-Kutta steps of this loop are done; call step() or step_plms()");
  }
  check_timestep(alphas_cumprod_, timestep, "timestep");  // (only the step back is taken from it)
  const int64_t diff_to_prev = counter_ % 2 ? 0 : config_.num_train_timesteps / *num_inference_steps_ / 2;
  const int64_t prev_timestep = timestep - diff_to_prev;
  const int64_t group_timestep = prk_timesteps_[counter_ / 4 * 4];
  const T sixth = static_cast<T>(1.0 / 6);
  const T third = static_cast<T>(1.0 / 3);
  const T* used_output = model_output;
  switch (counter_ % 4) {
    case 0:  // cur_model_output (0 after the last group) += 1/6 * model_output
      h.cur_model_output.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) h.cur_model_output[i] = sixth * model_output[i];
      h.has_cur_model_output = true;
      h.push(model_output, n);
      h.cur_sample.assign(sample, sample + n);
      h.has_cur_sample = true;
      break;
    case 1:
    case 2:  // cur_model_output += 1/3 * model_output
      for (int64_t i = 0; i < n; ++i) h.cur_model_output[i] = h.cur_model_output[i] + third * model_output[i];
      break;
    default:  // model_output = cur_model_output + 1/6 * model_output; cur_model_output = 0
      h.combined.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) h.combined[i] = h.cur_model_output[i] + sixth * model_output[i];
      h.has_cur_model_output = false;
      used_output = h.combined.data();
      break;
  }
  const T* cur_sample = h.has_cur_sample ? h.cur_sample.data() : sample;
  prev_sample(cur_sample, group_timestep, prev_timestep, used_output, n, prev_sample_out);
  ++counter_;
}

template <typename T>
void PNDMScheduler::step_plms(const T* model_output, int64_t timestep, const T* sample, const Shape& shape,
                              T* prev_sample_out) {
  PNDMHistory<T>& h = history<T>(shape, "step_plms()");
  const int64_t n = h.numel;
  if (buffers_overlap(prev_sample_out, model_output, n) || buffers_overlap(prev_sample_out, sample, n)) {
    throw ArgumentError("PNDMScheduler.step: prev_sample must not overlap model_output or sample");
  }
  if (!config_.skip_prk_steps && h.ets_count < 3) {
    throw ArgumentError("step_plms() can only run after the scheduler has run 12 Runge-Kutta steps (step_prk) "
                        "in this loop; call step(), which runs them first, or set skip_prk_steps=True");
  }
  int64_t prev_timestep = timestep - step_ratio();
  if (counter_ != 1 && h.ets_count >= 1 && config_.prediction_type == PredictionType::Epsilon) {
    // the common step: ets[-1..-3] before this output joins, the combination, the history's copy and formula (9)
    // in one pass
    const int older = std::min(h.ets_count, 3);
    std::array<const T*, 3> previous{nullptr, nullptr, nullptr};
    for (int k = 0; k < older; ++k) previous[k] = h.last(k + 1).data();
    check_timestep(alphas_cumprod_, timestep, "timestep");  // before the history changes
    if (prev_timestep >= 0) check_timestep(alphas_cumprod_, prev_timestep, "previous timestep");
    T* keep = h.push_slot(n);  // (when the ring is full, the dropped oldest is not among the three read)
    prev_sample(sample, timestep, prev_timestep, model_output, n, prev_sample_out, older + 1, previous, keep);
    ++counter_;
    return;
  }
  if (counter_ != 1) {
    h.push(model_output, n);
  } else {  // the repeated first timestep: a second-order step from the first sample
    prev_timestep = timestep;
    timestep = timestep + step_ratio();
  }
  h.combined.resize(static_cast<size_t>(n));
  T* c = h.combined.data();
  const T* used_output = c;
  const T* used_sample = sample;
  if (h.ets_count == 1 && counter_ == 0) {
    used_output = model_output;
    h.cur_sample.assign(sample, sample + n);
    h.has_cur_sample = true;
  } else if (h.ets_count == 1 && counter_ == 1) {
    // (model_output + ets[-1]) / 2, applied to the first step's sample
    const T* e1 = h.last(1).data();
    for (int64_t i = 0; i < n; ++i) c[i] = (model_output[i] + e1[i]) / T(2);
    used_sample = h.cur_sample.data();
    h.has_cur_sample = false;
  } else if (h.ets_count == 2) {
    // (3 * ets[-1] - ets[-2]) / 2
    const T *e1 = h.last(1).data(), *e2 = h.last(2).data();
    for (int64_t i = 0; i < n; ++i) c[i] = (T(3) * e1[i] - e2[i]) / T(2);
  } else if (h.ets_count == 3) {
    // (23 * ets[-1] - 16 * ets[-2] + 5 * ets[-3]) / 12
    const T *e1 = h.last(1).data(), *e2 = h.last(2).data(), *e3 = h.last(3).data();
    for (int64_t i = 0; i < n; ++i) c[i] = (T(23) * e1[i] - T(16) * e2[i] + T(5) * e3[i]) / T(12);
  } else {
    // (1 / 24) * (55 * ets[-1] - 59 * ets[-2] + 37 * ets[-3] - 9 * ets[-4])
    const T *e1 = h.last(1).data(), *e2 = h.last(2).data(), *e3 = h.last(3).data(), *e4 = h.last(4).data();
    const T w = static_cast<T>(1.0 / 24);
    for (int64_t i = 0; i < n; ++i) c[i] = w * (T(55) * e1[i] - T(59) * e2[i] + T(37) * e3[i] - T(9) * e4[i]);
  }
  prev_sample(used_sample, timestep, prev_timestep, used_output, n, prev_sample_out);
  ++counter_;
}

template <typename T>
std::vector<std::vector<T>> PNDMScheduler::ets() const {
  std::vector<std::vector<T>> out;
  if (history_dtype_bytes_ != static_cast<int>(sizeof(T))) return out;
  const PNDMHistory<T>* h;
  if constexpr (std::is_same_v<T, float>) h = &history_f32_;
  else h = &history_f64_;
  for (int k = h->ets_count; k >= 1; --k) out.push_back(h->last(k));
  return out;
}

template <typename T>
void PNDMScheduler::set_ets(const std::vector<const T*>& outputs, const Shape& shape) {
  PNDMHistory<T>& h = history<T>(shape, "setting ets");
  h.ets_start = h.ets_count = 0;
  const size_t first = outputs.size() > 4 ? outputs.size() - 4 : 0;
  for (size_t i = first; i < outputs.size(); ++i) h.push(outputs[i], h.numel);
}

template <typename T>
void PNDMScheduler::add_noise(const T* original_samples, const T* noise, const Shape& shape, const int64_t* timesteps,
                              int64_t num_timesteps, T* out) const {
  ortdiffusion::add_noise<T>(alphas_cumprod_, original_samples, noise, shape, timesteps, num_timesteps, out);
}

template std::vector<std::vector<float>> PNDMScheduler::ets<float>() const;
template std::vector<std::vector<double>> PNDMScheduler::ets<double>() const;
template void PNDMScheduler::set_ets<float>(const std::vector<const float*>&, const Shape&);
template void PNDMScheduler::set_ets<double>(const std::vector<const double*>&, const Shape&);
template struct PNDMHistory<float>;
template struct PNDMHistory<double>;
template void PNDMScheduler::step<float>(const float*, int64_t, const float*, const Shape&, float*);
template void PNDMScheduler::step<double>(const double*, int64_t, const double*, const Shape&, double*);
template void PNDMScheduler::step_prk<float>(const float*, int64_t, const float*, const Shape&, float*);
template void PNDMScheduler::step_prk<double>(const double*, int64_t, const double*, const Shape&, double*);
template void PNDMScheduler::step_plms<float>(const float*, int64_t, const float*, const Shape&, float*);
template void PNDMScheduler::step_plms<double>(const double*, int64_t, const double*, const Shape&, double*);
template void PNDMScheduler::add_noise<float>(const float*, const float*, const Shape&, const int64_t*, int64_t,
                                              float*) const;
template void PNDMScheduler::add_noise<double>(const double*, const double*, const Shape&, const int64_t*, int64_t,
                                               double*) const;

}  // namespace ortdiffusion
