// Where a prompt's image tokens sit, checked the same way for every family. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lvlm {

// The prompt's image tokens: none (first = -1), one token that stands for the image's `count`
// positions, or a run of exactly `count` tokens that already stands for them (newer processors).
struct ImageTokenRun {
  int64_t first = -1;  // index of the first image token in the prompt
  int64_t length = 0;  // image tokens in the prompt: 1 or count
  bool empty() const { return first < 0; }
  int64_t after() const { return first + length; }  // the first index after them
};

// UsageError when the image and the tokens disagree (an image but no token, a token but no image)
// or the tokens are neither one nor one run of `count` (`count` is read only with an image).
// `no_token_hint` ends the message for an image without a token.
ImageTokenRun find_image_tokens(const std::vector<int>& ids, int image_token, bool has_image, int64_t count,
                                const std::string& no_token_hint = "");

}  // namespace lvlm
