// Private helper: config strings <-> enums through one table, so the parser, the printer and
// the "expected one of ..." message can never drift apart.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "ortdiffusion/errors.hpp"

namespace ortdiffusion::detail {

template <typename Enum, size_t N>
Enum parse_enum(const std::pair<const char*, Enum> (&table)[N], const std::string& name, const char* key) {
  std::string accepted;
  for (const auto& [text, value] : table) {
    if (name == text) return value;
    accepted += accepted.empty() ? "" : ", ";
    accepted += std::string("'") + text + "'";
  }
  throw ConfigError(std::string(key) + " '" + name + "' is not supported; expected one of " + accepted);
}

template <typename Enum, size_t N>
std::string enum_name(const std::pair<const char*, Enum> (&table)[N], Enum value) {
  for (const auto& [text, v] : table) {
    if (v == value) return text;
  }
  return "?";
}

}  // namespace ortdiffusion::detail
