// resolve_external_location: one function, one message per refusal (after onnx's external_data_helper).
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/onnx_initializers.hpp"

namespace ortdiffusion {

namespace {

std::string real_path(const std::string& path) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) == nullptr) return {};
  return buffer;
}

}  // namespace

std::string resolve_external_location(const std::string& model_dir, const std::string& location,
                                      const std::string& tensor) {
  const std::string where = "external data of tensor '" + tensor + "'";
  if (location.empty()) throw ExternalDataError(where + ": empty location");
  if (model_dir.empty()) throw ExternalDataError(where + ": external data is not allowed for in-memory models");
  if (location.front() == '/') throw ExternalDataError(where + ": location '" + location + "' is absolute");
  if (location.find('\0') != std::string::npos) throw ExternalDataError(where + ": location contains a NUL byte");
  // `..` compared per path component (not as a substring: "a..b" is a fine file name)
  std::size_t start = 0;
  while (start <= location.size()) {
    const std::size_t slash = location.find('/', start);
    const std::size_t stop = slash == std::string::npos ? location.size() : slash;
    if (location.compare(start, stop - start, "..") == 0 && stop - start == 2) {
      throw ExternalDataError(where + ": location '" + location + "' has a '..' component");
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  const std::string folder = real_path(model_dir);
  if (folder.empty()) throw ExternalDataError(where + ": model folder '" + model_dir + "' cannot be resolved");
  const std::string target = real_path(model_dir + "/" + location);
  if (target.empty()) throw ExternalDataError(where + ": '" + location + "' does not exist in " + model_dir);
  const std::string prefix = folder == "/" ? folder : folder + "/";
  if (target.compare(0, prefix.size(), prefix) != 0) {
    throw ExternalDataError(where + ": '" + location + "' resolves to " + target + ", outside the model's folder");
  }
  struct stat st {};
  if (::stat(target.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw ExternalDataError(where + ": '" + location + "' is not a regular file");
  }
  return target;
}

}  // namespace ortdiffusion
