// The regularized incomplete beta function I_x(a, b) and its inverse in x: the beta distribution's CDF and
// quantile (scipy.stats.beta.cdf / .ppf, which diffusers' _convert_to_beta calls for "beta sigmas"), so that
// beta sigma schedules need no scipy. Double precision; the inverse is exact to about 1 ulp of x.
#pragma once

namespace ortdiffusion {

// I_x(a, b) = B(x; a, b) / B(a, b) for a, b > 0 and 0 <= x <= 1 (ArgumentError otherwise): the continued
// fraction of Numerical Recipes (3rd ed.) section 6.4, eq. 6.4.5, evaluated by the modified Lentz method,
// with the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
double regularized_incomplete_beta(double a, double b, double x);

// The x with I_x(a, b) = p for 0 <= p <= 1 (scipy.special.betaincinv, scipy.stats.beta.ppf): I_x is
// increasing in x, so bisection down to adjacent doubles, then the closer end.
double inverse_regularized_incomplete_beta(double a, double b, double p);

}  // namespace ortdiffusion
