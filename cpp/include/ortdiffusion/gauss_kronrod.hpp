// QUADPACK's 21-point Gauss-Kronrod rule (dqk21, Piessens et al. 1983), in its order of operations: the
// integral scipy.integrate.quad returns for a smooth integrand on its first pass (its error estimate is then
// far below any tolerance, so qagse stops there). The LMS scheduler's coefficients are integrals of Lagrange
// basis polynomials of degree <= 3, which this rule integrates exactly up to rounding.
#pragma once

#include <functional>

namespace ortdiffusion {

struct GaussKronrodResult {
  double integral;  // the 21-point Kronrod estimate
  double gauss;     // the embedded 10-point Gauss estimate (for an error estimate)
};

// The integral of f over [a, b] (a > b allowed: the sign follows), f evaluated at the 21 Kronrod nodes in
// dqk21's order.
GaussKronrodResult gauss_kronrod_21(const std::function<double(double)>& f, double a, double b);

}  // namespace ortdiffusion
