// Reading and writing DDIMConfig (diffusers ConfigMixin.from_config / to_json_string semantics).
#include "ortdiffusion/ddim_config.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "enum_table.hpp"
#include "ortdiffusion/errors.hpp"

namespace ortdiffusion {
namespace {

using nlohmann::json;

const std::pair<const char*, PredictionType> kPredictionTypes[] = {
    {"epsilon", PredictionType::Epsilon},
    {"sample", PredictionType::Sample},
    {"v_prediction", PredictionType::VPrediction},
};

// Typed access to one key, each failure naming the source and the key.
class Reader {
 public:
  Reader(const json& object, const std::string& source) : object_(object), source_(source) {}

  const json* find(const char* key) const {
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  [[noreturn]] void fail(const char* key, const std::string& what, const json& value) const {
    throw ConfigError(source_ + ": '" + key + "' " + what + ", got " + value.dump());
  }

  void read(const char* key, int64_t& out) const {
    const json* v = find(key);
    if (!v) return;
    if (v->is_number_integer()) {
      out = v->get<int64_t>();
    } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()) {
      out = static_cast<int64_t>(v->get<double>());  // 1000.0 is accepted as 1000
    } else {
      fail(key, "must be an integer", *v);
    }
  }

  void read(const char* key, double& out) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_number()) fail(key, "must be a number", *v);
    out = v->get<double>();
  }

  void read(const char* key, bool& out) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_boolean()) fail(key, "must be true or false", *v);
    out = v->get<bool>();
  }

  std::optional<std::string> string(const char* key) const {
    const json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string", *v);
    return v->get<std::string>();
  }

  void read(const char* key, std::optional<std::vector<double>>& out) const {
    const json* v = find(key);
    if (!v || v->is_null()) return;
    if (!v->is_array()) fail(key, "must be a list of numbers or null", *v);
    std::vector<double> values;
    values.reserve(v->size());
    for (const auto& item : *v) {
      if (!item.is_number()) fail(key, "must be a list of numbers or null", item);
      values.push_back(item.get<double>());
    }
    out = std::move(values);
  }

  const std::string& source() const { return source_; }

 private:
  const json& object_;
  const std::string& source_;
};

template <typename Enum>
void read_enum(const Reader& r, const char* key, Enum (*parse)(const std::string&), Enum& out) {
  if (auto name = r.string(key)) {
    try {
      out = parse(*name);
    } catch (const ConfigError& e) {
      throw ConfigError(r.source() + ": " + e.what());
    }
  }
}

void validate(const DDIMConfig& c, const std::string& source) {
  if (c.num_train_timesteps < 1) {
    throw ConfigError(source + ": 'num_train_timesteps' must be at least 1, got " +
                      std::to_string(c.num_train_timesteps));
  }
  if (c.trained_betas && static_cast<int64_t>(c.trained_betas->size()) != c.num_train_timesteps) {
    throw ConfigError(source + ": 'trained_betas' has " + std::to_string(c.trained_betas->size()) +
                      " values but 'num_train_timesteps' is " + std::to_string(c.num_train_timesteps));
  }
  if (!(c.dynamic_thresholding_ratio >= 0.0 && c.dynamic_thresholding_ratio <= 1.0)) {
    throw ConfigError(source + ": 'dynamic_thresholding_ratio' must be in [0, 1], got " +
                      std::to_string(c.dynamic_thresholding_ratio));
  }
  if (c.rescale_betas_zero_snr && c.num_train_timesteps < 2) {
    throw ConfigError(source + ": 'rescale_betas_zero_snr' needs num_train_timesteps >= 2");
  }
}

}  // namespace

PredictionType parse_prediction_type(const std::string& name) {
  return detail::parse_enum(kPredictionTypes, name, "prediction_type");
}
std::string to_string(PredictionType type) { return detail::enum_name(kPredictionTypes, type); }

const std::vector<std::string>& DDIMConfig::keys() {
  static const std::vector<std::string> k = {
      "num_train_timesteps", "beta_start",        "beta_end",
      "beta_schedule",       "trained_betas",     "clip_sample",
      "set_alpha_to_one",    "steps_offset",      "prediction_type",
      "thresholding",        "dynamic_thresholding_ratio", "clip_sample_range",
      "sample_max_value",    "timestep_spacing",  "rescale_betas_zero_snr"};
  return k;
}

DDIMConfig parse_ddim_config(const std::string& json_text, const std::string& source) {
  json object;
  try {
    object = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw ConfigError(source + ": not valid JSON (" + e.what() + ")");
  }
  if (!object.is_object()) throw ConfigError(source + ": expected a JSON object, got " + object.type_name());

  DDIMConfig c;
  const Reader r(object, source);
  r.read("num_train_timesteps", c.num_train_timesteps);
  r.read("beta_start", c.beta_start);
  r.read("beta_end", c.beta_end);
  read_enum(r, "beta_schedule", &parse_beta_schedule, c.beta_schedule);
  r.read("trained_betas", c.trained_betas);
  r.read("clip_sample", c.clip_sample);
  r.read("set_alpha_to_one", c.set_alpha_to_one);
  r.read("steps_offset", c.steps_offset);
  read_enum(r, "prediction_type", &parse_prediction_type, c.prediction_type);
  r.read("thresholding", c.thresholding);
  r.read("dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
  r.read("clip_sample_range", c.clip_sample_range);
  r.read("sample_max_value", c.sample_max_value);
  read_enum(r, "timestep_spacing", &parse_timestep_spacing, c.timestep_spacing);
  r.read("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  validate(c, source);
  return c;
}

DDIMConfig load_ddim_config(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ConfigError(path + ": cannot open scheduler config file");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw ConfigError(path + ": error while reading scheduler config file");
  return parse_ddim_config(text.str(), path);
}

std::string to_json(const DDIMConfig& c) {
  json out = json::object();  // nlohmann's default object is a std::map: keys come out sorted
  out["num_train_timesteps"] = c.num_train_timesteps;
  out["beta_start"] = c.beta_start;
  out["beta_end"] = c.beta_end;
  out["beta_schedule"] = to_string(c.beta_schedule);
  out["trained_betas"] = c.trained_betas ? json(*c.trained_betas) : json(nullptr);
  out["clip_sample"] = c.clip_sample;
  out["set_alpha_to_one"] = c.set_alpha_to_one;
  out["steps_offset"] = c.steps_offset;
  out["prediction_type"] = to_string(c.prediction_type);
  out["thresholding"] = c.thresholding;
  out["dynamic_thresholding_ratio"] = c.dynamic_thresholding_ratio;
  out["clip_sample_range"] = c.clip_sample_range;
  out["sample_max_value"] = c.sample_max_value;
  out["timestep_spacing"] = to_string(c.timestep_spacing);
  out["rescale_betas_zero_snr"] = c.rescale_betas_zero_snr;
  return out.dump(2);
}

}  // namespace ortdiffusion
