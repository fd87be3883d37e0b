// read_initializers: ModelProto.graph (field 7) -> GraphProto.initializer (field 5) -> TensorProto, read
// from the wire format without copying tensor bytes. Field numbers are those of onnx/onnx.proto.
#include "ortdiffusion/onnx_initializers.hpp"

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/mapped_file.hpp"
#include "wire_cursor.hpp"

namespace ortdiffusion {

namespace {

using wire::Bytes;
using wire::Cursor;
using wire::WireType;

// onnx.proto field numbers
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kModelOpsetImport = 8;
constexpr uint32_t kGraphInitializer = 5;
constexpr uint32_t kGraphSparseInitializer = 15;
constexpr uint32_t kTensorDims = 1;
constexpr uint32_t kTensorDataType = 2;
constexpr uint32_t kTensorSegment = 3;
constexpr uint32_t kTensorFloatData = 4;
constexpr uint32_t kTensorInt32Data = 5;
constexpr uint32_t kTensorStringData = 6;
constexpr uint32_t kTensorInt64Data = 7;
constexpr uint32_t kTensorName = 8;
constexpr uint32_t kTensorRawData = 9;
constexpr uint32_t kTensorDoubleData = 10;
constexpr uint32_t kTensorUint64Data = 11;
constexpr uint32_t kTensorExternalData = 13;
constexpr uint32_t kTensorDataLocation = 14;
constexpr uint32_t kEntryKey = 1;
constexpr uint32_t kEntryValue = 2;
constexpr uint64_t kLocationExternal = 1;

struct TypeInfo {
  int32_t code;
  std::size_t size;
  const char* name;
};
// The one table of supported types: sizes, names and the error message's list all come from it.
constexpr TypeInfo kTypes[] = {
    {1, 4, "float32"}, {2, 1, "uint8"}, {3, 1, "int8"},     {6, 4, "int32"},     {7, 8, "int64"},
    {9, 1, "bool"},    {10, 2, "float16"}, {11, 8, "float64"}, {16, 2, "bfloat16"},
};

const TypeInfo* type_info(int32_t code) {
  for (const auto& t : kTypes) {
    if (t.code == code) return &t;
  }
  return nullptr;
}

std::string supported_types() {
  std::string out;
  for (const auto& t : kTypes) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

// Everything parsed from one TensorProto before its data is resolved.
struct TensorFields {
  std::string name;
  int32_t data_type = 0;
  bool has_data_type = false;
  std::vector<int64_t> dims;
  bool has_raw = false;
  Bytes raw{nullptr, nullptr};
  std::vector<Bytes> fixed_slices;  // float_data / double_data payloads, in order
  std::vector<int64_t> varints;     // int32_data / int64_data values, decoded
  uint32_t typed_field = 0;         // the typed data field used (0 = none)
  std::map<std::string, std::string> external;
  bool has_external = false;
  uint64_t data_location = 0;
  std::size_t offset = 0;  // of the TensorProto in the file
};

// State while reading one model: its bytes' owner and the external files mapped so far.
struct Reader {
  std::string file;
  std::string model_dir;
  std::shared_ptr<const void> owner;
  const std::byte* origin;
  std::map<std::string, std::shared_ptr<const MappedFile>> external_files;
};

std::string context_of(const TensorFields& t) {
  return t.name.empty() ? std::string("initializer") : "initializer '" + t.name + "'";
}

[[noreturn]] void fail(const Reader& r, const TensorFields& t, const std::string& what) {
  throw FormatError(r.file + ": " + context_of(t) + " at byte " + std::to_string(t.offset) + ": " + what);
}

void use_typed_field(Cursor& c, TensorFields& t, uint32_t field) {
  if (t.typed_field != 0 && t.typed_field != field) c.fail("more than one typed data field", context_of(t));
  t.typed_field = field;
}

void read_varints(Reader& r, Cursor& c, wire::Field f, std::vector<int64_t>& out, const std::string& ctx) {
  if (f.type == WireType::kVarint) {
    out.push_back(static_cast<int64_t>(c.varint(ctx)));
    return;
  }
  c.expect(f, WireType::kLength, "packed varints", ctx);
  Cursor packed(c.length_delimited(ctx), r.origin, &r.file);
  while (!packed.done()) out.push_back(static_cast<int64_t>(packed.varint(ctx)));
}

void read_fixed(Cursor& c, wire::Field f, WireType single, TensorFields& t, const std::string& ctx) {
  if (f.type == single) {
    // onnx.proto declares these fields [packed = true]; writers that do not pack are not supported
    c.fail("non-packed float/double data is not supported; re-save the model with onnx", ctx);
  }
  c.expect(f, WireType::kLength, "packed fixed-width data", ctx);
  t.fixed_slices.push_back(c.length_delimited(ctx));
}

void read_external_entry(Reader& r, Cursor& c, TensorFields& t) {
  const std::string ctx = context_of(t) + ", external_data";
  Cursor entry(c.length_delimited(ctx), r.origin, &r.file);
  std::string key, value;
  while (!entry.done()) {
    const auto f = entry.field(ctx);
    if (f.number == kEntryKey || f.number == kEntryValue) {
      const char* field = f.number == kEntryKey ? "external_data key" : "external_data value";
      entry.expect(f, WireType::kLength, field, ctx);
      (f.number == kEntryKey ? key : value) = entry.utf8_text(field, ctx);
    } else {
      entry.skip(f.type, ctx);
    }
  }
  if (!t.external.emplace(key, value).second) c.fail("external_data repeats the key '" + key + "'", ctx);
  t.has_external = true;
}

TensorFields read_tensor_fields(Reader& r, Bytes bytes) {
  TensorFields t;
  t.offset = static_cast<std::size_t>(bytes.begin - r.origin);
  Cursor c(bytes, r.origin, &r.file);
  while (!c.done()) {
    const std::string ctx = context_of(t);
    const auto f = c.field(ctx);
    switch (f.number) {
      case kTensorDims:
        read_varints(r, c, f, t.dims, ctx + ", dims");
        break;
      case kTensorDataType:
        c.expect(f, WireType::kVarint, "data_type", ctx);
        t.data_type = static_cast<int32_t>(c.varint(ctx));
        t.has_data_type = true;
        break;
      case kTensorName: {
        c.expect(f, WireType::kLength, "name", ctx);
        t.name = c.utf8_text("name", ctx);
        break;
      }
      case kTensorRawData:
        c.expect(f, WireType::kLength, "raw_data", ctx);
        t.raw = c.length_delimited(ctx);
        t.has_raw = true;
        break;
      case kTensorFloatData:
        use_typed_field(c, t, f.number);
        read_fixed(c, f, WireType::kFixed32, t, ctx + ", float_data");
        break;
      case kTensorDoubleData:
        use_typed_field(c, t, f.number);
        read_fixed(c, f, WireType::kFixed64, t, ctx + ", double_data");
        break;
      case kTensorInt32Data:
      case kTensorInt64Data:
        use_typed_field(c, t, f.number);
        read_varints(r, c, f, t.varints, ctx + (f.number == kTensorInt32Data ? ", int32_data" : ", int64_data"));
        break;
      case kTensorExternalData:
        c.expect(f, WireType::kLength, "external_data", ctx);
        read_external_entry(r, c, t);
        break;
      case kTensorDataLocation:
        c.expect(f, WireType::kVarint, "data_location", ctx);
        t.data_location = c.varint(ctx);
        break;
      case kTensorSegment:
        c.fail("segmented tensors are not supported", ctx);
      case kTensorStringData:
      case kTensorUint64Data:
        c.fail("string and uint64 tensor data are not supported", ctx);
      default:
        c.skip(f.type, ctx);
    }
  }
  return t;
}

uint64_t parse_decimal(const Reader& r, const TensorFields& t, const std::string& key) {
  const auto it = t.external.find(key);
  const std::string& text = it->second;
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
    fail(r, t, "external_data " + key + " '" + text + "' is not a non-negative integer");
  }
  return std::stoull(text);
}

// Points `out` at the external bytes of `t` after checking path, offset and length.
void resolve_external(Reader& r, const TensorFields& t, Initializer& out) {
  for (const auto& [key, value] : t.external) {
    if (key != "location" && key != "offset" && key != "length" && key != "checksum" && key != "basepath") {
      fail(r, t, "unknown external_data key '" + key + "'");
    }
  }
  if (t.external.count("location") == 0) fail(r, t, "external_data has no location");
  const uint64_t offset = t.external.count("offset") ? parse_decimal(r, t, "offset") : 0;
  const uint64_t length = t.external.count("length") ? parse_decimal(r, t, "length") : out.size_bytes;
  if (length != out.size_bytes) {
    fail(r, t, "external_data length " + std::to_string(length) + " != " + std::to_string(out.size_bytes) +
                   " bytes for dims " + shape_to_string(out.dims));
  }
  const std::string path = resolve_external_location(r.model_dir, t.external.at("location"), t.name);
  auto& mapped = r.external_files[path];
  if (!mapped) mapped = MappedFile::open(path);
  if (offset > mapped->size() || mapped->size() - offset < length) {
    throw ExternalDataError(r.file + ": external data of tensor '" + t.name + "': offset " + std::to_string(offset) +
                            " + length " + std::to_string(length) + " runs past the end of " + path + " (" +
                            std::to_string(mapped->size()) + " bytes)");
  }
  out.data = length == 0 ? nullptr : mapped->data() + offset;
  out.external = true;
  out.owner = mapped;
}

// Narrows decoded int32_data values into an owned buffer of the tensor's element type.
void decode_int32_data(const Reader& r, const TensorFields& t, const TypeInfo& type, Initializer& out) {
  auto buffer = std::make_shared<std::vector<std::byte>>(out.size_bytes);
  int64_t lo = 0, hi = 0;
  switch (type.code) {
    case 6: lo = INT32_MIN; hi = INT32_MAX; break;
    case 3: lo = -128; hi = 127; break;
    case 2: lo = 0; hi = 255; break;
    case 9: lo = 0; hi = 1; break;
    default: lo = 0; hi = 65535; break;  // float16 / bfloat16 bit patterns
  }
  for (std::size_t i = 0; i < t.varints.size(); ++i) {
    // int32 values travel as sign-extended 64-bit varints
    const int64_t v = t.varints[i];
    if (v < lo || v > hi) fail(r, t, "int32_data value " + std::to_string(v) + " out of range for " + type.name);
    const auto narrow32 = static_cast<int32_t>(v);
    const auto narrow16 = static_cast<uint16_t>(v);
    const auto narrow8 = static_cast<uint8_t>(static_cast<int8_t>(v));
    std::byte* dst = buffer->data() + i * type.size;
    if (type.size == 4) std::memcpy(dst, &narrow32, 4);
    else if (type.size == 2) std::memcpy(dst, &narrow16, 2);
    else std::memcpy(dst, &narrow8, 1);
  }
  out.data = buffer->data();
  out.owner = std::move(buffer);
}

Initializer resolve_tensor(Reader& r, const TensorFields& t) {
  if (t.name.empty()) fail(r, t, "initializer without a name");
  if (!t.has_data_type) fail(r, t, "no data_type");
  const TypeInfo* type = type_info(t.data_type);
  if (type == nullptr) {
    fail(r, t, "data type " + std::to_string(t.data_type) + " is not supported (supported: " + supported_types() + ")");
  }
  Initializer out;
  out.name = t.name;
  out.data_type = static_cast<OnnxDataType>(t.data_type);
  out.dims = t.dims;
  uint64_t numel = 1;
  for (const int64_t d : t.dims) {
    if (d < 0) fail(r, t, "negative dimension in " + shape_to_string(t.dims));
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) fail(r, t, "element count overflows");
  }
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<uint64_t>(type->size), &nbytes) ||
      nbytes > static_cast<uint64_t>(PTRDIFF_MAX)) {
    fail(r, t, "byte size overflows");
  }
  out.size_bytes = static_cast<std::size_t>(nbytes);
  const bool external = t.data_location == kLocationExternal;
  if (t.data_location > kLocationExternal) fail(r, t, "unknown data_location " + std::to_string(t.data_location));
  if (t.has_external && !external) fail(r, t, "external_data given but data_location is not EXTERNAL");
  const int sources = int(t.has_raw) + int(t.typed_field != 0) + int(external);
  if (sources > 1) fail(r, t, "more than one of raw_data, typed data and external data");
  out.owner = r.owner;
  if (sources == 0) {
    if (numel != 0) fail(r, t, "no data for " + std::to_string(numel) + " elements");
    return out;
  }
  if (external) {
    resolve_external(r, t, out);
  } else if (t.has_raw) {
    if (t.raw.size() != out.size_bytes) {
      fail(r, t, "raw_data has " + std::to_string(t.raw.size()) + " bytes, dims " + shape_to_string(t.dims) + " of " +
                     type->name + " need " + std::to_string(out.size_bytes));
    }
    out.data = out.size_bytes == 0 ? nullptr : t.raw.begin;
  } else if (t.typed_field == kTensorFloatData || t.typed_field == kTensorDoubleData) {
    const int32_t expected = t.typed_field == kTensorFloatData ? 1 : 11;
    if (t.data_type != expected) fail(r, t, std::string("typed float data for a ") + type->name + " tensor");
    std::size_t total = 0;
    for (const auto& s : t.fixed_slices) total += s.size();
    if (total != out.size_bytes) {
      fail(r, t, "typed data has " + std::to_string(total) + " bytes, expected " + std::to_string(out.size_bytes));
    }
    if (t.fixed_slices.size() == 1) {
      out.data = total == 0 ? nullptr : t.fixed_slices[0].begin;
    } else {
      auto buffer = std::make_shared<std::vector<std::byte>>(total);
      std::size_t at = 0;
      for (const auto& s : t.fixed_slices) {
        if (s.size() != 0) std::memcpy(buffer->data() + at, s.begin, s.size());
        at += s.size();
      }
      out.data = buffer->data();
      out.owner = std::move(buffer);
    }
  } else {
    const bool int64_field = t.typed_field == kTensorInt64Data;
    if (int64_field != (t.data_type == 7)) fail(r, t, std::string("wrong typed data field for a ") + type->name + " tensor");
    if (t.data_type == 1 || t.data_type == 11) fail(r, t, std::string("int32_data for a ") + type->name + " tensor");
    if (t.varints.size() != numel) {
      fail(r, t, "typed data has " + std::to_string(t.varints.size()) + " values, dims need " + std::to_string(numel));
    }
    if (int64_field) {
      auto buffer = std::make_shared<std::vector<std::byte>>(out.size_bytes);
      if (out.size_bytes != 0) std::memcpy(buffer->data(), t.varints.data(), out.size_bytes);
      out.data = buffer->data();
      out.owner = std::move(buffer);
    } else {
      decode_int32_data(r, t, *type, out);
    }
  }
  return out;
}

std::vector<Initializer> read_model(Reader& r, Bytes bytes) {
  std::vector<Initializer> result;
  std::set<std::string> names;
  bool has_graph = false;
  bool has_opset = false;
  Cursor model(bytes, r.origin, &r.file);
  while (!model.done()) {
    const auto f = model.field("ModelProto");
    if (f.number == kModelOpsetImport) has_opset = true;
    if (f.number != kModelGraph) {
      model.skip(f.type, "ModelProto");
      continue;
    }
    model.expect(f, WireType::kLength, "graph", "ModelProto");
    has_graph = true;
    Cursor graph(model.length_delimited("ModelProto.graph"), r.origin, &r.file);
    while (!graph.done()) {
      const auto g = graph.field("GraphProto");
      if (g.number == kGraphSparseInitializer) graph.fail("sparse initializers are not supported", "GraphProto");
      if (g.number != kGraphInitializer) {
        graph.skip(g.type, "GraphProto");
        continue;
      }
      graph.expect(g, WireType::kLength, "initializer", "GraphProto");
      const TensorFields fields = read_tensor_fields(r, graph.length_delimited("GraphProto.initializer"));
      Initializer init = resolve_tensor(r, fields);
      if (!names.insert(init.name).second) fail(r, fields, "duplicate initializer name");
      result.push_back(std::move(init));
    }
  }
  if (!has_graph) throw FormatError(r.file + ": no graph (ModelProto field 7); is this an ONNX model?");
  // Every ONNX model since IR version 3 names its opsets (onnx.checker requires it), and serializers
  // write opset_import (field 8) after the graph (field 7): a file cut anywhere before its end is caught
  // here even when the cut falls exactly between two initializers.
  if (!has_opset) {
    throw FormatError(r.file + ": no opset_import (ModelProto field 8): the file is truncated or not an ONNX model");
  }
  return result;
}

std::string parent_folder(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::size_t onnx_element_size(int32_t code) {
  const TypeInfo* t = type_info(code);
  return t ? t->size : 0;
}

const char* onnx_type_name(int32_t code) {
  const TypeInfo* t = type_info(code);
  return t ? t->name : "";
}

std::vector<Initializer> read_initializers(const std::string& path) {
  auto mapped = MappedFile::open(path);
  Reader r{path, parent_folder(path), mapped, mapped->data(), {}};
  // Only field headers are read here: without the hint, each one would page in its neighbourhood
  // (readahead and fault-around), about 40% of a .lora file before any tensor is used.
  mapped->advise(MappedFile::Access::kRandom);
  auto tensors = read_model(r, Bytes{mapped->data(), mapped->data() + mapped->size()});
  mapped->advise(MappedFile::Access::kNormal);
  return tensors;
}

std::vector<Initializer> read_initializers_from_memory(std::shared_ptr<const std::vector<std::byte>> bytes,
                                                       const std::string& name, const std::string& model_dir) {
  const std::byte* begin = bytes->data();
  Reader r{name, model_dir, bytes, begin, {}};
  return read_model(r, Bytes{begin, begin + bytes->size()});
}

}  // namespace ortdiffusion
