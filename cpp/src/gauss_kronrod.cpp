// gauss_kronrod.hpp: dqk21 of QUADPACK (nodes and weights to 33 digits, as published), without the error
// estimate's scaling (the caller needs the integral only).
#include "ortdiffusion/gauss_kronrod.hpp"

namespace ortdiffusion {
namespace {

// Kronrod abscissae (xgk), descending; the even-indexed ones (1-based 2, 4, ...) are the Gauss nodes.
constexpr double kXgk[11] = {
    0.995657163025808080735527280689003, 0.973906528517171720077964012084452, 0.930157491355708226001207180059508,
    0.865063366688984510732096688423493, 0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
    0.562757134668604683339000099272694, 0.433395394129247190799265943165784, 0.294392862701460198131126603103866,
    0.148874338981631210884826001129720, 0.000000000000000000000000000000000};
// Kronrod weights (wgk)
constexpr double kWgk[11] = {
    0.011694638867371874278064396062192, 0.032558162307964727478818972459390, 0.054755896574351996031381300244580,
    0.075039674810919952767043140916190, 0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
    0.123491976262065851077958109831074, 0.134709217311473325928054001771707, 0.142775938577060080797094273138717,
    0.147739104901338491374841515972068, 0.149445554002916905664936468389821};
// 10-point Gauss weights (wg)
constexpr double kWg[5] = {0.066671344308688137593568809893332, 0.149451349150580593145776339657697,
                           0.219086362515982043995534934228163, 0.269266719309996355091226921569469,
                           0.295524224714752870173892994651338};

}  // namespace

GaussKronrodResult gauss_kronrod_21(const std::function<double(double)>& f, double a, double b) {
  const double centr = 0.5 * (a + b);
  const double hlgth = 0.5 * (b - a);
  // the centre is a Kronrod node only (10-point Gauss has none there)
  double resg = 0.0;
  double resk = kWgk[10] * f(centr);
  for (int j = 1; j <= 5; ++j) {  // the Gauss nodes, shared by both rules
    const int jtw = 2 * j;
    const double absc = hlgth * kXgk[jtw - 1];
    const double fsum = f(centr - absc) + f(centr + absc);
    resg = resg + kWg[j - 1] * fsum;
    resk = resk + kWgk[jtw - 1] * fsum;
  }
  for (int j = 1; j <= 5; ++j) {  // the Kronrod-only nodes
    const int jtwm1 = 2 * j - 1;
    const double absc = hlgth * kXgk[jtwm1 - 1];
    const double fsum = f(centr - absc) + f(centr + absc);
    resk = resk + kWgk[jtwm1 - 1] * fsum;
  }
  return {resk * hlgth, resg * hlgth};
}

}  // namespace ortdiffusion
