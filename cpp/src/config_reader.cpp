// Reading scheduler_config.json text and files for the config parsers (config_reader.hpp).
#include "config_reader.hpp"

#include <fstream>
#include <sstream>

namespace ortdiffusion::detail {

nlohmann::json parse_config_object(const std::string& json_text, const std::string& source) {
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError(source + ": not valid JSON (" + e.what() + ")");
  }
  if (!object.is_object()) throw ConfigError(source + ": expected a JSON object, got " + object.type_name());
  return object;
}

std::string read_config_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ConfigError(path + ": cannot open scheduler config file");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw ConfigError(path + ": error while reading scheduler config file");
  return text.str();
}

}  // namespace ortdiffusion::detail
