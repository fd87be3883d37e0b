// Mirrors diffusers.schedulers.scheduling_ddpm.DDPMScheduler.add_noise / get_velocity: alphas_cumprod
// is cast to the sample's dtype first, then raised to 0.5 in that dtype, and broadcast per batch item.
#include "ortdiffusion/forward_process.hpp"

#include <Eigen/Core>
#include <cmath>
#include <string>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/torch_float_sqrt.hpp"

namespace ortdiffusion {
namespace {

template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// `** 0.5` on a tensor of the sample's dtype: torch's float32 sqrt (MKL) or IEEE double sqrt.
float sqrt_in(float x) { return torch_sqrt(x); }
double sqrt_in(double x) { return std::sqrt(x); }

// Broadcast one timestep per batch item (shape[0]) or one for all, as diffusers' add_noise does by
// flattening alphas_cumprod[timesteps] and unsqueezing it to the sample's rank.
template <typename T, typename Combine>
void per_item_combine(const std::vector<float>& alphas_cumprod, const T* a, const T* b, const Shape& shape,
                      const int64_t* timesteps, int64_t num_timesteps, T* out, const char* what, Combine combine) {
  const int64_t n = shape_numel(shape);
  const int64_t batch = shape.empty() ? 1 : shape[0];
  if (num_timesteps != 1 && num_timesteps != batch) {
    throw ArgumentError(std::string(what) + ": got " + std::to_string(num_timesteps) + " timesteps for a batch of " +
                        std::to_string(batch) + " (shape " + shape_to_string(shape) +
                        "); pass one timestep per batch item or a single one");
  }
  const int64_t item = (num_timesteps == 1 || batch == 0) ? n : n / batch;
  for (int64_t k = 0; k < num_timesteps; ++k) {
    const int64_t t = timesteps[k];
    check_timestep(alphas_cumprod, t, (std::string(what) + ": timestep").c_str());
    const T alpha_bar = static_cast<T>(alphas_cumprod[t]);
    const T sqrt_alpha_prod = sqrt_in(alpha_bar);
    const T sqrt_one_minus_alpha_prod = sqrt_in(T(1) - alpha_bar);
    ConstArrayMap<T> av(a + k * item, item);
    ConstArrayMap<T> bv(b + k * item, item);
    ArrayMap<T> ov(out + k * item, item);
    combine(ov, av, bv, sqrt_alpha_prod, sqrt_one_minus_alpha_prod);
  }
}

}  // namespace

void check_timestep(const std::vector<float>& alphas_cumprod, int64_t timestep, const char* what) {
  const auto n = static_cast<int64_t>(alphas_cumprod.size());
  if (timestep < 0 || timestep >= n) {
    throw ArgumentError(std::string(what) + " " + std::to_string(timestep) +
                        " is outside the noise schedule: valid timesteps are 0 to " + std::to_string(n - 1) +
                        " (num_train_timesteps=" + std::to_string(n) + ")");
  }
}

template <typename T>
void add_noise(const std::vector<float>& alphas_cumprod, const T* original_samples, const T* noise, const Shape& shape,
               const int64_t* timesteps, int64_t num_timesteps, T* out) {
  per_item_combine<T>(alphas_cumprod, original_samples, noise, shape, timesteps, num_timesteps, out, "add_noise",
                      [](auto& o, const auto& x0, const auto& z, T sa, T sb) { o = sa * x0 + sb * z; });
}

template <typename T>
void get_velocity(const std::vector<float>& alphas_cumprod, const T* sample, const T* noise, const Shape& shape,
                  const int64_t* timesteps, int64_t num_timesteps, T* out) {
  per_item_combine<T>(alphas_cumprod, sample, noise, shape, timesteps, num_timesteps, out, "get_velocity",
                      [](auto& o, const auto& x, const auto& z, T sa, T sb) { o = sa * z - sb * x; });
}

template void add_noise<float>(const std::vector<float>&, const float*, const float*, const Shape&, const int64_t*,
                               int64_t, float*);
template void add_noise<double>(const std::vector<float>&, const double*, const double*, const Shape&, const int64_t*,
                                int64_t, double*);
template void get_velocity<float>(const std::vector<float>&, const float*, const float*, const Shape&, const int64_t*,
                                  int64_t, float*);
template void get_velocity<double>(const std::vector<float>&, const double*, const double*, const Shape&,
                                   const int64_t*, int64_t, double*);

}  // namespace ortdiffusion
