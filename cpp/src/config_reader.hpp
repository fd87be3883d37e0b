// Private: typed reading of one scheduler_config.json object, shared by every scheduler's config
// parser (diffusers ConfigMixin.from_config semantics: missing keys keep their defaults, unknown keys
// are ignored, a known key of the wrong JSON type raises ConfigError naming the source and the key).
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ortdiffusion/errors.hpp"
#include "ortdiffusion/noise_schedule.hpp"
#include "ortdiffusion/sigma_schedule.hpp"

namespace ortdiffusion::detail {

// Parses `json_text` and checks that it is an object; errors name `source`.
nlohmann::json parse_config_object(const std::string& json_text, const std::string& source);

// The text of a scheduler_config.json file; ConfigError when it cannot be read.
std::string read_config_file(const std::string& path);

class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& object, const std::string& source) : object_(object), source_(source) {}

  const nlohmann::json* find(const char* key) const {
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  [[noreturn]] void fail(const char* key, const std::string& what, const nlohmann::json& value) const {
    throw ConfigError(source_ + ": '" + key + "' " + what + ", got " + value.dump());
  }

  void read(const char* key, int64_t& out) const {
    const nlohmann::json* v = find(key);
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
    const nlohmann::json* v = find(key);
    if (!v) return;
    if (!v->is_number()) fail(key, "must be a number", *v);
    out = v->get<double>();
  }

  void read(const char* key, bool& out) const {
    const nlohmann::json* v = find(key);
    if (!v) return;
    if (!v->is_boolean()) fail(key, "must be true or false", *v);
    out = v->get<bool>();
  }

  // A key that may be null (diffusers' Optional[bool] / Optional[float]): null keeps std::nullopt.
  void read(const char* key, std::optional<bool>& out) const {
    const nlohmann::json* v = find(key);
    if (!v || v->is_null()) return;
    if (!v->is_boolean()) fail(key, "must be true, false or null", *v);
    out = v->get<bool>();
  }

  void read(const char* key, std::optional<double>& out) const {
    const nlohmann::json* v = find(key);
    if (!v || v->is_null()) return;
    if (!v->is_number()) fail(key, "must be a number or null", *v);
    out = v->get<double>();
  }

  std::optional<std::string> string(const char* key) const {
    const nlohmann::json* v = find(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) fail(key, "must be a string", *v);
    return v->get<std::string>();
  }

  void read(const char* key, std::optional<std::vector<double>>& out) const {
    const nlohmann::json* v = find(key);
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

  // A string key parsed into an enum by `parse`; its ConfigError is prefixed with the source.
  template <typename Enum>
  void read_enum(const char* key, Enum (*parse)(const std::string&), Enum& out) const {
    if (auto name = string(key)) {
      try {
        out = parse(*name);
      } catch (const ConfigError& e) {
        throw ConfigError(source_ + ": " + e.what());
      }
    }
  }

  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& object_;
  const std::string& source_;
};

// The noise-schedule keys every scheduler shares (num_train_timesteps, beta_start, beta_end,
// beta_schedule, trained_betas), read into any config struct that has those fields.
template <typename Config>
void read_noise_schedule_keys(const ConfigReader& r, Config& c, BetaSchedule (*parse_schedule)(const std::string&)) {
  r.read("num_train_timesteps", c.num_train_timesteps);
  r.read("beta_start", c.beta_start);
  r.read("beta_end", c.beta_end);
  r.read_enum("beta_schedule", parse_schedule, c.beta_schedule);
  r.read("trained_betas", c.trained_betas);
}

// Checks those keys together: at least one training timestep, one trained beta per timestep.
template <typename Config>
void validate_noise_schedule_keys(const Config& c, const std::string& source) {
  if (c.num_train_timesteps < 1) {
    throw ConfigError(source + ": 'num_train_timesteps' must be at least 1, got " +
                      std::to_string(c.num_train_timesteps));
  }
  if (c.trained_betas && static_cast<int64_t>(c.trained_betas->size()) != c.num_train_timesteps) {
    throw ConfigError(source + ": 'trained_betas' has " + std::to_string(c.trained_betas->size()) +
                      " values but 'num_train_timesteps' is " + std::to_string(c.num_train_timesteps));
  }
}

// An optional value as JSON (null when absent).
template <typename T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// The sigma-schedule switches of the sigma-based schedulers (use_karras_sigmas, use_exponential_sigmas,
// use_beta_sigmas: each true, false or null), read, checked (at most one) and written together.
template <typename Config>
void read_sigma_kinds(const ConfigReader& r, Config& c) {
  for (auto [key, field] : {std::pair{"use_karras_sigmas", &c.use_karras_sigmas},
                            std::pair{"use_exponential_sigmas", &c.use_exponential_sigmas},
                            std::pair{"use_beta_sigmas", &c.use_beta_sigmas}}) {
    if (const auto* v = r.find(key); v && v->is_null()) *field = std::nullopt;
    r.read(key, *field);
  }
}

template <typename Config>
void validate_sigma_kinds(const Config& c, const std::string& source) {
  if (c.use_karras_sigmas.value_or(false) + c.use_exponential_sigmas.value_or(false) + c.use_beta_sigmas.value_or(false) > 1) {
    throw ConfigError(source + ": only one of 'use_karras_sigmas', 'use_exponential_sigmas' and 'use_beta_sigmas' "
                      "can be true");
  }
}

// The sigma schedule those switches select.
template <typename Config>
SigmaKind sigma_kind(const Config& c) {
  if (c.use_karras_sigmas.value_or(false)) return SigmaKind::Karras;
  if (c.use_exponential_sigmas.value_or(false)) return SigmaKind::Exponential;
  if (c.use_beta_sigmas.value_or(false)) return SigmaKind::Beta;
  return SigmaKind::Plain;
}

template <typename Config>
void write_sigma_kinds(nlohmann::json& out, const Config& c) {
  out["use_karras_sigmas"] = optional_json(c.use_karras_sigmas);
  out["use_exponential_sigmas"] = optional_json(c.use_exponential_sigmas);
  out["use_beta_sigmas"] = optional_json(c.use_beta_sigmas);
}

// Writes those keys into a JSON object.
template <typename Config>
void write_noise_schedule_keys(nlohmann::json& out, const Config& c, std::string (*schedule_name)(BetaSchedule)) {
  out["num_train_timesteps"] = c.num_train_timesteps;
  out["beta_start"] = c.beta_start;
  out["beta_end"] = c.beta_end;
  out["beta_schedule"] = schedule_name(c.beta_schedule);
  out["trained_betas"] = c.trained_betas ? nlohmann::json(*c.trained_betas) : nlohmann::json(nullptr);
}

}  // namespace ortdiffusion::detail
