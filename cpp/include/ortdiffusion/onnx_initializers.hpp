// Zero-copy reading of the initializers of an ONNX file: the file (and each external-data file) is
// memory-mapped, the protobuf wire format of ModelProto -> GraphProto.initializer -> TensorProto is walked
// without copying tensor bytes, and each Initializer points into the mapping, which it keeps alive.
// Only tensors stored in the typed varint fields (int32_data / int64_data) are decoded into owned buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ortdiffusion {

// onnx.TensorProto.DataType values of the supported element types.
enum class OnnxDataType : int32_t {
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kBfloat16 = 16,
};

// Bytes per element, or 0 when `code` is not a supported type.
std::size_t onnx_element_size(int32_t code);
// "float32", "float16", ... (numpy-style names; "bfloat16" for 16), or "" when unsupported.
const char* onnx_type_name(int32_t code);

struct Initializer {
  std::string name;
  OnnxDataType data_type;
  std::vector<int64_t> dims;
  const std::byte* data = nullptr;  // size_bytes bytes, owned by `owner`
  std::size_t size_bytes = 0;
  bool external = false;  // data lives in an external-data file
  std::shared_ptr<const void> owner;  // the mapped file or the decoded buffer
};

// Every initializer of the ONNX model at `path`, in file order. External data locations are resolved
// relative to the model's folder and checked (see resolve_external_location). Throws FormatError (or its
// subclass ExternalDataError) naming the file, the tensor and the byte offset of anything malformed.
std::vector<Initializer> read_initializers(const std::string& path);

// The same over a model held in memory (`bytes` kept alive by the result). `name` labels messages;
// `model_dir` resolves external data ("" refuses external tensors).
std::vector<Initializer> read_initializers_from_memory(std::shared_ptr<const std::vector<std::byte>> bytes,
                                                       const std::string& name, const std::string& model_dir);

// The checked path of an external-data `location` for `tensor`: relative, without `..` components, inside
// `model_dir` after resolving symlinks, naming a regular file. Throws ExternalDataError otherwise.
std::string resolve_external_location(const std::string& model_dir, const std::string& location,
                                      const std::string& tensor);

}  // namespace ortdiffusion
