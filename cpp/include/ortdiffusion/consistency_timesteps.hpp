// The timestep schedules of the consistency schedulers (LCMScheduler, TCDScheduler): n timesteps picked
// evenly from the distillation schedule, or caller-chosen ones cut by strength (their set_timesteps).
#pragma once

#include <cstdint>
#include <vector>

namespace ortdiffusion {

// The distillation schedule, ascending: LCM's (and TCD's default) i * (T // original_steps) - 1 for
// i = 1 .. int(original_steps * strength); with `every_train_timestep` (TCD given original_inference_steps
// explicitly) 0 .. int(T * strength) - 1. ArgumentError when original_steps > T.
std::vector<int64_t> distillation_timesteps(int64_t num_train_timesteps, int64_t original_steps, double strength,
                                            bool every_train_timestep);

// n of `origin` (ascending) picked at floor(np.linspace(0, len, n, endpoint=False)) of it reversed.
// ArgumentError, as diffusers' ValueErrors, when n < 1, n > num_train_timesteps, len(origin) // n < 1 or
// n > original_steps.
std::vector<int64_t> pick_consistency_timesteps(const std::vector<int64_t>& origin, int64_t n,
                                                int64_t num_train_timesteps, int64_t original_steps, double strength);

// Caller-chosen timesteps (strictly descending, within [0, T)) cut by strength as diffusers: the last
// min(int(n * strength), n) of them.
std::vector<int64_t> custom_consistency_timesteps(const std::vector<int64_t>& timesteps, int64_t num_train_timesteps,
                                                  double strength);

// diffusers' index_for_timestep on an integer schedule: the position of `timestep` (the second one when it
// occurs twice). ArgumentError naming the timestep when it is not in the schedule.
int64_t index_in_schedule(const std::vector<int64_t>& timesteps, int64_t timestep);

}  // namespace ortdiffusion
