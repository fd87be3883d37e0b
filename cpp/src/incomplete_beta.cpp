// incomplete_beta.hpp: I_x(a, b) by its continued fraction and its inverse by bisection.
#include "ortdiffusion/incomplete_beta.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {
namespace {

// The continued fraction of I_x(a, b) (Numerical Recipes 3rd ed., eq. 6.4.5: betacf), modified Lentz.
double beta_continued_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300;
  constexpr double eps = std::numeric_limits<double>::epsilon();
  const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const int m2 = 2 * m;
    // even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    // odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) <= eps) break;
  }
  return h;
}

void check_shape_parameters(double a, double b, const char* function) {
  if (!(a > 0.0) || !(b > 0.0) || !std::isfinite(a) || !std::isfinite(b)) {
    throw ArgumentError(std::string(function) + ": the shape parameters must be finite and positive, got a=" +
                        std::to_string(a) + ", b=" + std::to_string(b));
  }
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
  check_shape_parameters(a, b, "regularized_incomplete_beta");
  if (!(x >= 0.0 && x <= 1.0)) {
    throw ArgumentError("regularized_incomplete_beta: x must be in [0, 1], got " + std::to_string(x));
  }
  if (x == 0.0 || x == 1.0) return x;
  // prefactor x^a (1 - x)^b / B(a, b), in logs (NR eq. 6.4.5's front factor without the 1/a)
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  // the fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry beyond
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double inverse_regularized_incomplete_beta(double a, double b, double p) {
  check_shape_parameters(a, b, "inverse_regularized_incomplete_beta");
  if (!(p >= 0.0 && p <= 1.0)) {
    throw ArgumentError("inverse_regularized_incomplete_beta: p must be in [0, 1], got " + std::to_string(p));
  }
  if (p == 0.0 || p == 1.0) return p;
  double lo = 0.0, hi = 1.0;  // I_lo < p <= I_hi
  for (int i = 0; i < 2000; ++i) {
    const double mid = lo + (hi - lo) / 2.0;
    if (mid <= lo || mid >= hi) break;  // adjacent doubles
    if (regularized_incomplete_beta(a, b, mid) < p) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const double error_lo = p - regularized_incomplete_beta(a, b, lo);
  const double error_hi = regularized_incomplete_beta(a, b, hi) - p;
  return error_lo < error_hi ? lo : hi;
}

}  // namespace ortdiffusion
