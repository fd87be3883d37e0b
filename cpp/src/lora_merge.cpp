// merge_lora with Eigen: one GEMM per factor, accumulated into the copy of W.
#include "ortdiffusion/lora_merge.hpp"

#include <Eigen/Core>
#include <string>

#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {

void merge_lora(const float* weight, int64_t rows, int64_t cols, bool transposed, const std::vector<LoraFactor>& factors,
                float* out) {
  using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  if (rows <= 0 || cols <= 0) {
    throw ArgumentError("merge_lora: weight shape [" + std::to_string(rows) + ", " + std::to_string(cols) + "] is empty");
  }
  Eigen::Map<RowMatrix> merged(out, rows, cols);
  merged = Eigen::Map<const RowMatrix>(weight, rows, cols);
  // W is [out, in]: delta = up [out, r] @ down [r, in]. W^T is [in, out]: delta^T = down^T @ up^T.
  const int64_t out_features = transposed ? cols : rows;
  const int64_t in_features = transposed ? rows : cols;
  for (const auto& f : factors) {
    if (f.rank <= 0) throw ArgumentError("merge_lora: rank must be positive, got " + std::to_string(f.rank));
    Eigen::Map<const RowMatrix> up(f.up, out_features, f.rank);
    Eigen::Map<const RowMatrix> down(f.down, f.rank, in_features);
    if (transposed) {
      merged.noalias() += f.scale * (down.transpose() * up.transpose());
    } else {
      merged.noalias() += f.scale * (up * down);
    }
  }
}

}  // namespace ortdiffusion
