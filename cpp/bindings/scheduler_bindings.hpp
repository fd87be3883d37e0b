// Private to the bindings: one function per scheduler binding file, called from native_module.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace ortdiffusion::bindings {

// ortdiffusion._native.PNDMScheduler and its config helpers (bind_pndm.cpp).
void bind_pndm(pybind11::module_& m);

// ortdiffusion._native.EulerDiscreteScheduler and EulerAncestralDiscreteScheduler (bind_euler.cpp).
void bind_euler(pybind11::module_& m);

// ortdiffusion._native.DPMSolverMultistepScheduler (bind_dpmsolver.cpp).
void bind_dpmsolver(pybind11::module_& m);

// ortdiffusion._native.UniPCMultistepScheduler (bind_unipc.cpp).
void bind_unipc(pybind11::module_& m);

// ortdiffusion._native.LCMScheduler (bind_lcm.cpp).
void bind_lcm(pybind11::module_& m);

// ortdiffusion._native.HeunDiscreteScheduler (bind_heun.cpp).
void bind_heun(pybind11::module_& m);

// ortdiffusion._native.DDPMScheduler (bind_ddpm.cpp).
void bind_ddpm(pybind11::module_& m);

// ortdiffusion._native.KDPM2DiscreteScheduler and KDPM2AncestralDiscreteScheduler (bind_kdpm2.cpp).
void bind_kdpm2(pybind11::module_& m);

// ortdiffusion._native.LMSDiscreteScheduler (bind_lms.cpp).
void bind_lms(pybind11::module_& m);

// ortdiffusion._native.TCDScheduler (bind_tcd.cpp).
void bind_tcd(pybind11::module_& m);

// ortdiffusion._native.DPMSolverSinglestepScheduler (bind_dpmsolver_singlestep.cpp).
void bind_dpmsolver_singlestep(pybind11::module_& m);

}  // namespace ortdiffusion::bindings
