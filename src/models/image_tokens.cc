#include "image_tokens.h"

#include "lvlm_probe/common.h"

namespace lvlm {

ImageTokenRun find_image_tokens(const std::vector<int>& ids, int image_token, bool has_image, int64_t count,
                                const std::string& no_token_hint) {
  std::vector<int64_t> at;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == image_token) at.push_back(static_cast<int64_t>(i));
  if (!at.empty() && !has_image) throw UsageError("the prompt holds an image token but no image was given");
  if (at.empty() && has_image)
    throw UsageError("an image was given but the prompt holds no image token (id " + std::to_string(image_token) + ")" +
                     no_token_hint);
  if (at.empty()) return {};
  const bool one = at.size() == 1;
  const bool run = static_cast<int64_t>(at.size()) == count && at.back() - at.front() == count - 1;
  if (!one && !run)
    throw UsageError("the prompt holds " + std::to_string(at.size()) + " image tokens (id " +
                     std::to_string(image_token) + "); expected one, or one run of " + std::to_string(count) +
                     " for this image");
  return {at.front(), static_cast<int64_t>(at.size())};
}

}  // namespace lvlm
