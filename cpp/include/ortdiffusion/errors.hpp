// One exception hierarchy for the whole native core. The bindings map each class once, at the
// boundary, to a Python exception deriving from ValueError, so callers can catch them by name.
#pragma once

#include <stdexcept>
#include <string>

namespace ortdiffusion {

// Base of every error the core raises on bad input.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration (scheduler_config.json, a config dict) is malformed or has an invalid value.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// An argument of a call has an invalid value or shape (tensor shapes, timesteps, step counts).
class ArgumentError : public Error {
 public:
  using Error::Error;
};

// A file's bytes do not follow the expected format.
class FormatError : public Error {
 public:
  using Error::Error;
};

// An ONNX tensor's external data cannot be used: its location is absolute, has a `..` component, leaves
// the model's folder through a symlink, is not a regular file, or its offset + length run past the end.
class ExternalDataError : public FormatError {
 public:
  using FormatError::FormatError;
};

// Formats a shape as "[1, 4, 64, 64]" for error messages.
template <typename Container>
std::string shape_to_string(const Container& shape) {
  std::string out = "[";
  bool first = true;
  for (auto d : shape) {
    if (!first) out += ", ";
    out += std::to_string(d);
    first = false;
  }
  return out + "]";
}

}  // namespace ortdiffusion
