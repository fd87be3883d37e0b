// merge_lora with Eigen: one GEMM per factor, accumulated into the copy of W.
#include "ortdiffusion/lora_merge.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <exception>
#include <string>
#include <thread>

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

namespace {

// out [cols, rows] = in [rows, cols]^T in square tiles: each tile's rows and columns stay in cache, where
// an element-by-element transpose misses on every write. Measured on 644 MB of SD 1.5 attention and
// feed-forward weights, 2 cores: 481 ms element-wise, 178 ms tiled. (Fusing the rank-r product into
// bands of the transpose was slower, 560 ms vs 460 ms in all: each band re-packs `up` for its GEMM.)
void transpose_tiled(const float* in, int64_t rows, int64_t cols, float* out) {
  constexpr int64_t kTile = 32;
  for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
    const int64_t i1 = std::min(rows, i0 + kTile);
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t j1 = std::min(cols, j0 + kTile);
      for (int64_t j = j0; j < j1; ++j) {
        for (int64_t i = i0; i < i1; ++i) out[j * rows + i] = in[i * cols + j];
      }
    }
  }
}

// dst [cols, rows] = (W + sum s * up @ down)^T = W^T + sum s * down^T @ up^T for W [rows, cols] =
// [out, in]: the layout live mode's graph inputs take (MatMul consumes W^T).
void transposed_merge(const LoraMergeJob& job) {
  using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<RowMatrix> dst(job.dst, job.cols, job.rows);
  transpose_tiled(job.weight, job.rows, job.cols, job.dst);
  for (const auto& f : job.factors) {
    if (f.rank <= 0) throw ArgumentError("merge_lora_jobs: rank must be positive, got " + std::to_string(f.rank));
    Eigen::Map<const RowMatrix> up(f.up, job.rows, f.rank);
    Eigen::Map<const RowMatrix> down(f.down, f.rank, job.cols);
    dst.noalias() += f.scale * (down.transpose() * up.transpose());
  }
}

void run_job(const LoraMergeJob& job) {
  if (job.transpose_out) {
    transposed_merge(job);
  } else {
    merge_lora(job.weight, job.rows, job.cols, false, job.factors, job.dst);
  }
}

}  // namespace

void merge_lora_jobs(const std::vector<LoraMergeJob>& jobs, int threads) {
  const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int count = std::max(1, std::min<int>(threads > 0 ? threads : hardware, static_cast<int>(jobs.size())));
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(count);
  auto worker = [&](int id) {
    try {
      for (std::size_t i = next++; i < jobs.size(); i = next++) run_job(jobs[i]);
    } catch (...) {
      errors[id] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < count; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& thread : pool) thread.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace ortdiffusion
