// libFuzzer target over the zero-copy ONNX initializer reader (onnx_initializers.hpp).
//
// Input layout (also decoded by tests/test_fuzz_corpus.py, which replays the corpus through Python):
//   byte 0 even: the rest is an ONNX file read from memory (external data refused);
//   byte 0 odd:  bytes 1..4 are a little-endian length L, then L bytes of model.onnx, then the bytes of
//                model.onnx_data; both are written to a scratch folder and read from disk (mmap), so
//                external-data locations, offsets and lengths get fuzzed against a real file.
// A FormatError (or ExternalDataError) is the expected outcome for bad input; any other exception, a
// crash, or a sanitizer report is a finding. Every tensor byte is read so ASan sees out-of-bounds views.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/onnx_initializers.hpp"

namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

const fs::path& scratch_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("ortdiffusion-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

unsigned touch_every_byte(const std::vector<ortdiffusion::Initializer>& tensors) {
  unsigned sum = 0;
  for (const auto& t : tensors) {
    for (size_t i = 0; i < t.size_bytes; ++i) sum += static_cast<unsigned>(t.data[i]);
  }
  return sum;
}

std::vector<ortdiffusion::Initializer> read_input(const uint8_t* data, size_t size) {
  if (size == 0) return {};
  if ((data[0] & 1u) == 0) {
    auto bytes = std::make_shared<std::vector<std::byte>>(size - 1);
    for (size_t i = 1; i < size; ++i) (*bytes)[i - 1] = static_cast<std::byte>(data[i]);
    return ortdiffusion::read_initializers_from_memory(bytes, "<fuzz>", "");
  }
  size_t length = 0;
  for (size_t i = 0; i < 4 && 1 + i < size; ++i) length |= static_cast<size_t>(data[1 + i]) << (8 * i);
  const size_t body = size > 5 ? size - 5 : 0;
  if (length > body) length = body;
  const fs::path& dir = scratch_dir();
  write_file(dir / "model.onnx", data + 5, length);
  write_file(dir / "model.onnx_data", data + 5 + length, body - length);
  return ortdiffusion::read_initializers((dir / "model.onnx").string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    volatile unsigned sink = touch_every_byte(read_input(data, size));
    (void)sink;
  } catch (const ortdiffusion::FormatError&) {
    // the expected, clean refusal
  }
  return 0;
}
