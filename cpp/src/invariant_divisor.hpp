// Private: x / d for many x and one d, bit-identical to IEEE division, without a division instruction per
// element (a vector division costs several times a multiplication and bounds the schedulers' element passes).
//
// float32: q = float(double(x) * (1.0 / double(d))). Why this equals the correctly rounded x / d for every float x
// and d whose quotient is not subnormal (zeros, infinities, NaNs and subnormal x or d included):
//  - 1.0 / double(d) and the product are double roundings, so double(x) * r = (x / d)(1 + e) with
//    |e| <= 2^-52 + 2^-106; the product is never subnormal in double (|x|, |1/d| lie in [2^-149, 2^149]).
//  - A normal quotient x / d is never within a relative 2^-49 of a float32 rounding boundary (a midpoint between
//    floats) and never on one: with x = X 2^i, d = D 2^j (X, D < 2^24 integers) and a midpoint m = M 2^k (M odd,
//    2^24 <= M < 2^25), x - d m is a nonzero multiple of 2^min(i, j + k), because the odd part of D M is >= M >
//    X's odd part; so |x / d - m| >= 2^min(i, j + k) / |d|, relative >= 2^-49.
//  - So no rounding boundary lies between the double product and x / d: converting it to float32 gives the
//    same value as the division (double rounding is innocuous here, as for p' >= 2p + 2 in Figueroa 1995).
// The exception: a subnormal quotient can sit exactly on a midpoint between two subnormals (M small, e.g.
// x = 147 2^-149, d = 98), where the division rounds the tie to even and the product, off by its tiny error,
// rounds the other way (one unit of 2^-149). Quotients below 2^-126 (1.2e-38) do not occur in the schedulers'
// latents, noise and model outputs.
// Checked in cpp/tests against x / d over every significand for a set of divisors.
// float64 keeps the division (there is no wider type to run the same argument in).
#pragma once

namespace ortdiffusion::detail {

template <typename T>
class InvariantDivisor;

template <>
class InvariantDivisor<float> {
 public:
  explicit InvariantDivisor(float divisor) : reciprocal_(1.0 / static_cast<double>(divisor)) {}
  float divide(float x) const { return static_cast<float>(static_cast<double>(x) * reciprocal_); }

 private:
  double reciprocal_;
};

template <>
class InvariantDivisor<double> {
 public:
  explicit InvariantDivisor(double divisor) : divisor_(divisor) {}
  double divide(double x) const { return x / divisor_; }

 private:
  double divisor_;
};

}  // namespace ortdiffusion::detail
