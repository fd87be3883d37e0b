#include "ortdiffusion/cpu_int8_dot_products.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace ortdiffusion {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0 via XGETBV (only once CPUID.1:ECX.OSXSAVE says the OS enabled it).
unsigned long long xcr0() {
  unsigned int eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

Int8DotProducts detect() {
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Int8DotProducts::X86Saturating;
  const bool osxsave = (ecx & (1u << 27)) != 0;
  const unsigned long long state = osxsave ? xcr0() : 0;
  const bool ymm_state = (state & 0x6) == 0x6;      // XMM and YMM saved by the OS
  const bool zmm_state = (state & 0xE6) == 0xE6;    // plus opmask and both ZMM halves
  unsigned int leaf7_ecx = 0, leaf71_eax = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) leaf7_ecx = ecx;
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) leaf71_eax = eax;
  const bool avx512_vnni = zmm_state && (leaf7_ecx & (1u << 11)) != 0;  // CPUID.(7,0):ECX[11]
  const bool avx_vnni = ymm_state && (leaf71_eax & (1u << 4)) != 0;     // CPUID.(7,1):EAX[4]
  return (avx512_vnni || avx_vnni) ? Int8DotProducts::X86Vnni : Int8DotProducts::X86Saturating;
}
#else
Int8DotProducts detect() { return Int8DotProducts::NotX86; }
#endif

}  // namespace

Int8DotProducts cpu_int8_dot_products() {
  static const Int8DotProducts kind = detect();
  return kind;
}

}  // namespace ortdiffusion
