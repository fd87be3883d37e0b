// A bounds-checked cursor over protobuf wire-format bytes [p, end), after protozero: every check is
// written as `size_t(end - p) < n` (no pointer overflow), varints are at most 10 bytes, and the wire types
// the spec forbids (groups 3/4, 6, 7) are rejected. Errors name the file, the byte offset and what was
// being read (`context`, e.g. "initializer 'conv.weight'").
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "ortdiffusion/errors.hpp"

namespace ortdiffusion::wire {

enum class WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLength = 2, kFixed32 = 5 };

struct Field {
  uint32_t number;
  WireType type;
};

// A slice of the input: [begin, end).
struct Bytes {
  const std::byte* begin;
  const std::byte* end;
  std::size_t size() const { return static_cast<std::size_t>(end - begin); }
};

class Cursor {
 public:
  // `origin` is the first byte of the file, for offsets in messages; `file` names it.
  Cursor(Bytes bytes, const std::byte* origin, const std::string* file)
      : p_(bytes.begin), end_(bytes.end), origin_(origin), file_(file) {}

  bool done() const { return p_ == end_; }
  std::size_t offset() const { return static_cast<std::size_t>(p_ - origin_); }

  [[noreturn]] void fail(const std::string& what, const std::string& context) const {
    throw FormatError(*file_ + ": " + what + " at byte " + std::to_string(offset()) +
                      (context.empty() ? "" : " (" + context + ")"));
  }

  uint64_t varint(const std::string& context) {
    uint64_t value = 0;
    for (int i = 0; i < 10; ++i) {
      if (p_ == end_) fail("truncated varint", context);
      const auto byte = static_cast<uint8_t>(*p_++);
      if (i == 9 && byte > 1) fail("varint overflows 64 bits", context);
      value |= static_cast<uint64_t>(byte & 0x7F) << (7 * i);
      if ((byte & 0x80) == 0) return value;
    }
    fail("varint longer than 10 bytes", context);
  }

  Field field(const std::string& context) {
    const uint64_t tag = varint(context);
    const auto number = tag >> 3;
    const auto type = static_cast<uint32_t>(tag & 7);
    if (number == 0 || number > 0x1FFFFFFF) fail("invalid field number " + std::to_string(number), context);
    if (type != 0 && type != 1 && type != 2 && type != 5) {
      fail("unsupported wire type " + std::to_string(type) + " for field " + std::to_string(number), context);
    }
    return {static_cast<uint32_t>(number), static_cast<WireType>(type)};
  }

  Bytes length_delimited(const std::string& context) {
    const uint64_t length = varint(context);
    if (static_cast<uint64_t>(end_ - p_) < length) {
      fail("length " + std::to_string(length) + " runs past the end of the enclosing message", context);
    }
    Bytes out{p_, p_ + length};
    p_ += length;
    return out;
  }

  // A protobuf `string` field: UTF-8 by the protobuf spec, and names reach Python as str, so invalid
  // sequences (overlong forms, surrogates, code points past U+10FFFF; Unicode 15, table 3-7) are refused.
  std::string utf8_text(const char* field, const std::string& context) {
    const Bytes b = length_delimited(context);
    const auto* s = reinterpret_cast<const unsigned char*>(b.begin);
    const std::size_t n = b.size();
    for (std::size_t i = 0; i < n;) {
      const unsigned c = s[i];
      std::size_t extra = 0;
      unsigned lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
      if (c < 0x80) {
        ++i;
        continue;
      } else if (c >= 0xC2 && c <= 0xDF) {
        extra = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        extra = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        extra = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
      } else {
        fail(std::string(field) + " is not valid UTF-8", context);
      }
      if (n - i <= extra || s[i + 1] < lo || s[i + 1] > hi) fail(std::string(field) + " is not valid UTF-8", context);
      for (std::size_t k = 2; k <= extra; ++k) {
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) fail(std::string(field) + " is not valid UTF-8", context);
      }
      i += extra + 1;
    }
    return std::string(reinterpret_cast<const char*>(b.begin), n);
  }

  template <typename T>  // uint32_t or uint64_t, little-endian on the wire
  T fixed(const std::string& context) {
    if (static_cast<std::size_t>(end_ - p_) < sizeof(T)) fail("truncated fixed-width value", context);
    T value;
    std::memcpy(&value, p_, sizeof(T));
    p_ += sizeof(T);
    return value;
  }

  void skip(WireType type, const std::string& context) {
    switch (type) {
      case WireType::kVarint: varint(context); return;
      case WireType::kFixed64: fixed<uint64_t>(context); return;
      case WireType::kLength: length_delimited(context); return;
      case WireType::kFixed32: fixed<uint32_t>(context); return;
    }
  }

  void expect(Field f, WireType type, const char* name, const std::string& context) const {
    if (f.type != type) {
      fail(std::string("field ") + name + " has wire type " + std::to_string(static_cast<uint32_t>(f.type)) +
               ", expected " + std::to_string(static_cast<uint32_t>(type)),
           context);
    }
  }

 private:
  const std::byte* p_;
  const std::byte* end_;
  const std::byte* origin_;
  const std::string* file_;
};

}  // namespace ortdiffusion::wire
