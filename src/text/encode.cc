// Text -> ids, as HF's slow LlamaTokenizer (transformers 4.40):
//   PreTrainedTokenizer.tokenize  cuts the text at added tokens (Trie.split), applies their
//                                 lstrip/rstrip, and hands every other chunk to _tokenize;
//   LlamaTokenizer._tokenize      legacy: SentencePiece as trained, so each chunk gets its own
//                                 dummy-prefix "▁" (hence the "▁" after "<image>" in LLaVA prompts);
//                                 non-legacy: one "▁" for the whole text, none after added tokens.
#include "lvlm_probe/common.h"
#include "tokenizer_impl.h"

namespace lvlm {
namespace {

// A piece of the text: an added token (added_id >= 0) or text for SentencePiece.
struct Chunk {
  std::string text;
  int added_id = -1;
};

// One token before conversion to an id; `added` tells added tokens from SentencePiece pieces.
struct Token {
  int id;
  bool added;
};

// Python's str.strip() strips Unicode whitespace; ASCII is enough for the strip flags, which
// LLaVA's tokenizers leave off anyway.
const char kWhitespace[] = " \t\n\r\f\v";
std::string lstrip(const std::string& s) {
  size_t b = s.find_first_not_of(kWhitespace);
  return b == std::string::npos ? std::string() : s.substr(b);
}
std::string rstrip(const std::string& s) {
  size_t e = s.find_last_not_of(kWhitespace);
  return e == std::string::npos ? std::string() : s.substr(0, e + 1);
}

// HF Trie.split: every occurrence of an added token's text, leftmost first, the longest on ties.
std::vector<Chunk> split_added_tokens(const Tokenizer::Impl& m, const std::string& text) {
  std::vector<Chunk> out;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    const std::string* best = nullptr;
    int best_id = -1;
    for (const auto& [content, id] : m.added_ids)
      if (!content.empty() && (!best || content.size() > best->size()) && text.compare(i, content.size(), content) == 0) {
        best = &content;
        best_id = id;
      }
    if (!best) {
      ++i;
      continue;
    }
    if (i > start) out.push_back({text.substr(start, i - start)});
    out.push_back({*best, best_id});
    i += best->size();
    start = i;
  }
  if (start < text.size()) out.push_back({text.substr(start)});
  return out;
}

// PreTrainedTokenizer.tokenize: an rstrip token eats the whitespace after it, an lstrip token the
// whitespace before it.
void apply_strip_flags(const Tokenizer::Impl& m, std::vector<Chunk>& chunks) {
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i].added_id < 0) continue;
    const auto& spec = m.added_by_id.at(chunks[i].added_id);
    if (spec.rstrip && i + 1 < chunks.size() && chunks[i + 1].added_id < 0) chunks[i + 1].text = lstrip(chunks[i + 1].text);
    if (spec.lstrip && i > 0 && chunks[i - 1].added_id < 0) chunks[i - 1].text = rstrip(chunks[i - 1].text);
  }
}

// LlamaTokenizer._tokenize with legacy=False: SentencePiece without the dummy prefix would drop a
// leading "▁", so a chunk that starts with one is encoded behind the unk text, whose pieces are
// then cut off again.
std::vector<int> encode_chunk_non_legacy(const Tokenizer::Impl& m, const std::string& chunk) {
  if (!starts_with(chunk, kSpaceSymbol) && !starts_with(chunk, " ")) return m.sp_no_prefix->encode(chunk);
  const std::string unk_text = m.settings.unk ? m.settings.unk->content : "<unk>";
  std::vector<int> ids = m.sp_no_prefix->encode(unk_text + chunk);
  const size_t n = static_cast<size_t>(m.unk_token_length);
  if (ids.size() >= n) ids.erase(ids.begin(), ids.begin() + n);
  return ids;
}

std::vector<Token> tokenize_chunks(const Tokenizer::Impl& m, const std::string& text) {
  std::vector<Chunk> chunks = split_added_tokens(m, text);
  apply_strip_flags(m, chunks);
  std::vector<Token> tokens;
  for (const Chunk& c : chunks) {
    if (c.added_id >= 0) {
      tokens.push_back({c.added_id, true});
    } else if (!c.text.empty()) {
      for (int id : m.settings.legacy ? m.sp.encode(c.text) : encode_chunk_non_legacy(m, c.text))
        tokens.push_back({id, false});
    }
  }
  return tokens;
}

// LlamaTokenizer.tokenize with legacy=False: literal "▁" becomes a space, one "▁" goes in front of
// the whole text, and that "▁" is dropped again when a special token follows it.
std::vector<Token> tokenize_non_legacy(const Tokenizer::Impl& m, const std::string& text) {
  if (text.empty()) return {};
  std::string t = replace_all(text, kSpaceSymbol, " ");
  if (m.settings.add_prefix_space) t = kSpaceSymbol + t;
  std::vector<Token> tokens = tokenize_chunks(m, t);
  if (tokens.size() > 1 && !tokens[0].added && m.sp.id_to_piece(tokens[0].id) == kSpaceSymbol && tokens[1].added &&
      m.special_texts.count(m.added_by_id.at(tokens[1].id).content))
    tokens.erase(tokens.begin());
  return tokens;
}

}  // namespace

std::vector<int> Tokenizer::encode(const std::string& text, bool add_bos) const {
  const Impl& m = *impl_;
  std::vector<int> ids;
  if (add_bos && m.bos >= 0) ids.push_back(m.bos);  // build_inputs_with_special_tokens
  for (const Token& t : m.settings.legacy ? tokenize_chunks(m, text) : tokenize_non_legacy(m, text))
    ids.push_back(t.id);
  return ids;
}

}  // namespace lvlm
