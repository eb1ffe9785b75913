// The files of a Hugging Face checkpoint directory that every family reads the same way. Torch-free.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace lvlm {

// <model_dir>/config.json's text after the checks every family makes (the directory exists, the
// file is there, the JSON size cap). `path` receives the file's path for messages.
std::string read_config_json(const std::string& model_dir, std::string* path);

// generation_config.json's eos_token_id (an integer or a list of them), which decides where greedy
// decoding stops as model.generate does; nullopt when the file or the key is absent.
std::optional<std::vector<int>> generation_eos_ids(const std::string& model_dir);

}  // namespace lvlm
