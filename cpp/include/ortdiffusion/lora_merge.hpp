// Merging LoRA factors into a weight: W' = W + sum_k scale_k * up_k @ down_k (Hu et al. 2021, eq. 3;
// peft's LoraLayer.get_delta_weight). Convolution weights [out, in, kh, kw] are seen as [out, in*kh*kw].
#pragma once

#include <cstdint>
#include <vector>

namespace ortdiffusion {

struct LoraFactor {
  const float* up;    // [out, rank], row-major
  const float* down;  // [rank, in], row-major
  int64_t rank;
  float scale;  // adapter weight * alpha / rank
};

// `weight` is rows x cols row-major: [out, in], or [in, out] when `transposed` (the graph stores W^T).
// Writes the merged weight, same layout, to `out` (which must not alias the factors). Throws
// ArgumentError for non-positive sizes or ranks.
void merge_lora(const float* weight, int64_t rows, int64_t cols, bool transposed, const std::vector<LoraFactor>& factors,
                float* out);

// One weight to rewrite in place for live LoRA switching: dst = W + deltas, or (transpose_out) its
// transpose, for a graph that reads W^T directly. W is [rows, cols] row-major; dst is [rows, cols] or
// [cols, rows]. An empty `factors` copies W.
struct LoraMergeJob {
  const float* weight;
  int64_t rows;
  int64_t cols;
  bool transpose_out;
  std::vector<LoraFactor> factors;
  float* dst;
};

// Runs the jobs on up to `threads` threads (0: the hardware's count); jobs are independent.
void merge_lora_jobs(const std::vector<LoraMergeJob>& jobs, int threads);

}  // namespace ortdiffusion
