// tokenizer.json -> BpeTokenizer::Impl. Only what a byte-level BPE needs is accepted; everything
// else is refused with the key that holds it, so a tokenizer is never run half-understood.
#include <algorithm>

#include "bpe_impl.h"
#include "lvlm_probe/common.h"
#include "lvlm_probe/json.h"

namespace lvlm {
namespace {

// Ids run densely from 0 in every tokenizer in use; this much slack beyond the number of entries
// is allowed, so a small file cannot make the id table huge.
constexpr int64_t kIdSlack = 65536;

// j[name] when j is an object holding it, else null (const operator[] on a missing key is undefined).
const Json& member(const Json& j, const char* name) {
  static const Json null;
  if (!j.is_object()) return null;
  auto it = j.find(name);
  return it == j.end() ? null : *it;
}

class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw InputError(origin_, "key '" + key + "': " + problem);
  }
  const Json& object(const Json& j, const std::string& key) const {
    if (!j.is_object()) fail(key, "expected an object, found " + std::string(j.type_name()));
    return j;
  }
  std::string string(const Json& j, const char* name, const std::string& key) const {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) fail(key + "." + name, "expected a string");
    return it->get<std::string>();
  }
  bool flag(const Json& j, const char* name, bool fallback, const std::string& key) const {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(key + "." + name, "expected true or false");
    return it->get<bool>();
  }
  int id(const Json& j, const std::string& key, int64_t entries) const {
    const int64_t limit = entries + kIdSlack;
    if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<int64_t>() >= limit)
      fail(key, "expected a token id (an integer from 0 to " + std::to_string(limit - 1) + ")");
    return static_cast<int>(j.get<int64_t>());
  }
  std::string type(const Json& j, const std::string& key) const { return string(object(j, key), "type", key); }
  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;
};

void read_vocab(const Reader& r, const Json& model, BpeTokenizer::Impl& impl) {
  auto it = model.find("vocab");
  if (it == model.end() || !it->is_object()) r.fail("model.vocab", "expected an object of token -> id");
  for (const auto& [token, id] : it->items()) {
    const int v = r.id(id, "model.vocab." + token, static_cast<int64_t>(it->size()));
    impl.vocab[token] = v;
    if (static_cast<size_t>(v) >= impl.id_to_token.size()) impl.id_to_token.resize(static_cast<size_t>(v) + 1);
    if (!impl.id_to_token[static_cast<size_t>(v)].empty()) r.fail("model.vocab." + token, "id " + std::to_string(v) + " is used twice");
    impl.id_to_token[static_cast<size_t>(v)] = token;
  }
  for (const auto& c : impl.byte_char)
    if (!impl.vocab.count(c)) r.fail("model.vocab", "byte-level token '" + c + "' is missing: not a byte-level BPE");
}

// "a b" (older files) or ["a", "b"] (tokenizers >= 0.20).
void read_merges(const Reader& r, const Json& model, BpeTokenizer::Impl& impl) {
  auto it = model.find("merges");
  if (it == model.end() || !it->is_array()) r.fail("model.merges", "expected an array of merges");
  int rank = 0;
  for (const Json& m : *it) {
    const std::string key = "model.merges[" + std::to_string(rank) + "]";
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        r.fail(key, "expected two tokens separated by one space");
      left = s.substr(0, space), right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>(), right = m[1].get<std::string>();
    } else {
      r.fail(key, "expected \"left right\" or [\"left\", \"right\"]");
    }
    for (const std::string& t : {left, right, left + right})
      if (!impl.vocab.count(t)) r.fail(key, "token '" + t + "' is not in model.vocab");
    impl.merge_rank.emplace(left + '\0' + right, rank++);  // a repeated merge keeps its first rank
  }
}

void read_model(const Reader& r, const Json& root, BpeTokenizer::Impl& impl) {
  auto it = root.find("model");
  if (it == root.end()) r.fail("model", "missing");
  const Json& model = r.object(*it, "model");
  if (r.string(model, "type", "model") != "BPE") r.fail("model.type", "only BPE models are supported");
  if (r.flag(model, "byte_fallback", false, "model")) r.fail("model.byte_fallback", "byte fallback is not supported");
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto a = model.find(affix);
    if (a != model.end() && !a->is_null() && !(a->is_string() && a->get<std::string>().empty()))
      r.fail(std::string("model.") + affix, "not supported by byte-level BPE");
  }
  auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null() && !(dropout->is_number() && dropout->get<double>() == 0))
    r.fail("model.dropout", "BPE dropout is random; only null or 0 is supported");
  impl.ignore_merges = r.flag(model, "ignore_merges", false, "model");
  read_vocab(r, model, impl);
  read_merges(r, model, impl);
}

void read_added(const Reader& r, const Json& root, BpeTokenizer::Impl& impl) {
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return;
  if (!it->is_array()) r.fail("added_tokens", "expected an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string key = "added_tokens[" + std::to_string(i) + "]";
    const Json& t = r.object((*it)[i], key);
    BpeAddedToken a;
    a.content = r.string(t, "content", key);
    if (a.content.empty()) r.fail(key + ".content", "empty");
    a.id = r.id(member(t, "id"), key + ".id", static_cast<int64_t>(impl.vocab.size() + it->size()));
    a.special = r.flag(t, "special", false, key);
    a.normalized = r.flag(t, "normalized", !a.special, key);
    a.lstrip = r.flag(t, "lstrip", false, key);
    a.rstrip = r.flag(t, "rstrip", false, key);
    a.single_word = r.flag(t, "single_word", false, key);
    if (static_cast<size_t>(a.id) >= impl.id_to_token.size()) impl.id_to_token.resize(static_cast<size_t>(a.id) + 1);
    impl.id_to_token[static_cast<size_t>(a.id)] = a.content;  // an added token may reuse a vocabulary id
    impl.added.push_back(std::move(a));
  }
  impl.special.assign(impl.id_to_token.size(), false);
  for (const auto& a : impl.added) impl.special[static_cast<size_t>(a.id)] = a.special;
}

void read_normalizer(const Reader& r, const Json& root, BpeTokenizer::Impl& impl) {
  auto it = root.find("normalizer");
  if (it == root.end() || it->is_null()) return;
  const std::string type = r.type(*it, "normalizer");
  if (type == "NFC") {
    impl.nfc = true;
  } else if (type == "Sequence" && member(*it, "normalizers").is_array() && member(*it, "normalizers").size() <= 1) {
    for (const Json& n : member(*it, "normalizers"))
      if (r.type(n, "normalizer.normalizers[0]") == "NFC") impl.nfc = true;
      else r.fail("normalizer.normalizers[0].type", "only NFC is supported");
  } else {
    r.fail("normalizer.type", "'" + type + "' is not supported (only NFC)");
  }
}

// GPT-2's pattern, which ByteLevel with use_regex = true applies itself.
const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void read_byte_level(const Reader& r, const Json& p, const std::string& key, BpeTokenizer::Impl& impl) {
  impl.add_prefix_space = r.flag(p, "add_prefix_space", true, key);
  if (r.flag(p, "use_regex", true, key)) {
    if (impl.split) r.fail(key + ".use_regex", "a second regex split is not supported");
    impl.split = std::make_shared<BpeRegex>(kGpt2Pattern, r.origin());
  }
}

void read_pre_tokenizer(const Reader& r, const Json& root, BpeTokenizer::Impl& impl) {
  auto it = root.find("pre_tokenizer");
  if (it == root.end() || it->is_null()) r.fail("pre_tokenizer", "missing: a byte-level BPE needs ByteLevel");
  std::vector<const Json*> steps{&*it};
  if (r.type(*it, "pre_tokenizer") == "Sequence") {
    steps.clear();
    const Json& list = member(*it, "pretokenizers");
    if (!list.is_array()) r.fail("pre_tokenizer.pretokenizers", "expected an array");
    for (const Json& p : list) steps.push_back(&p);
  }
  bool byte_level = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Json& p = *steps[i];
    const std::string key = steps.size() == 1 && &p == &*it ? "pre_tokenizer" : "pre_tokenizer.pretokenizers[" + std::to_string(i) + "]";
    const std::string type = r.type(p, key);
    if (type == "ByteLevel" && !byte_level) {
      read_byte_level(r, p, key, impl);
      byte_level = true;
    } else if (type == "Split" && !byte_level && !impl.split) {
      const Json& pattern = member(p, "pattern");
      if (!member(pattern, "Regex").is_string())
        r.fail(key + ".pattern", "expected {\"Regex\": \"...\"}");
      if (r.string(p, "behavior", key) != "Isolated" || r.flag(p, "invert", false, key))
        r.fail(key + ".behavior", "only Isolated without invert is supported");
      impl.split = std::make_shared<BpeRegex>(pattern["Regex"].get<std::string>(), r.origin() + ": " + key + ".pattern");
    } else {
      r.fail(key + ".type", "'" + type + "' is not supported here (a regex Split, then ByteLevel)");
    }
  }
  if (!byte_level) r.fail("pre_tokenizer", "no ByteLevel step: not a byte-level BPE");
}

// TemplateProcessing's single sequence: special tokens before and after $A.
void read_template(const Reader& r, const Json& p, const std::string& key, BpeTokenizer::Impl& impl) {
  const Json& single = member(p, "single");
  if (!single.is_array()) r.fail(key + ".single", "expected an array");
  bool seen_a = false;
  for (const Json& piece : single) {
    if (!member(piece, "Sequence").is_null()) {
      seen_a = true;
      continue;
    }
    const Json& special = member(piece, "SpecialToken");
    if (!special.is_object()) r.fail(key + ".single", "expected SpecialToken or Sequence items");
    const std::string name = r.string(special, "id", key + ".single");
    const Json& ids = member(member(member(p, "special_tokens"), name.c_str()), "ids");
    if (!ids.is_array()) r.fail(key + ".special_tokens", "no ids for '" + name + "'");
    for (const Json& id : ids)
      (seen_a ? impl.suffix_ids : impl.prefix_ids).push_back(r.id(id, key + ".special_tokens." + name, 0));
  }
}

void read_post_processor(const Reader& r, const Json& root, BpeTokenizer::Impl& impl) {
  auto it = root.find("post_processor");
  if (it == root.end() || it->is_null()) return;
  std::vector<const Json*> steps{&*it};
  if (r.type(*it, "post_processor") == "Sequence") {
    steps.clear();
    const Json& list = member(*it, "processors");
    if (!list.is_array()) r.fail("post_processor.processors", "expected an array");
    for (const Json& p : list) steps.push_back(&p);
  }
  for (const Json* p : steps) {
    const std::string type = r.type(*p, "post_processor");
    if (type == "TemplateProcessing") read_template(r, *p, "post_processor", impl);
    else if (type != "ByteLevel") r.fail("post_processor.type", "'" + type + "' is not supported");
  }
}

void read_decoder(const Reader& r, const Json& root) {
  auto it = root.find("decoder");
  if (it == root.end() || it->is_null() || r.type(*it, "decoder") != "ByteLevel")
    r.fail("decoder", "expected a ByteLevel decoder");
}

}  // namespace

BpeTokenizer BpeTokenizer::parse(std::string_view text, const std::string& origin) {
  const Json root = parse_json(text, origin, {kMaxTokenizerJsonBytes, 64});
  const Reader r(origin);
  r.object(root, "(top level)");
  auto impl = std::make_shared<Impl>();
  impl->origin = origin;
  fill_byte_level_alphabet(*impl);
  read_normalizer(r, root, *impl);
  read_pre_tokenizer(r, root, *impl);
  read_model(r, root, *impl);
  read_added(r, root, *impl);
  read_post_processor(r, root, *impl);
  read_decoder(r, root);
  if (impl->special.size() < impl->id_to_token.size()) impl->special.resize(impl->id_to_token.size(), false);
  for (int id : impl->prefix_ids) if (static_cast<size_t>(id) >= impl->id_to_token.size()) r.fail("post_processor", "unknown id " + std::to_string(id));
  for (int id : impl->suffix_ids) if (static_cast<size_t>(id) >= impl->id_to_token.size()) r.fail("post_processor", "unknown id " + std::to_string(id));
  return BpeTokenizer(std::move(impl));
}

BpeTokenizer BpeTokenizer::load(const std::string& model_dir) {
  const std::string path = model_dir + "/tokenizer.json";
  return parse(read_file(path, kMaxTokenizerJsonBytes), path);
}

int BpeTokenizer::vocab_size() const { return static_cast<int>(impl_->id_to_token.size()); }

std::optional<int> BpeTokenizer::added_token_id(const std::string& content) const {
  for (const auto& a : impl_->added)
    if (a.content == content) return a.id;
  return std::nullopt;
}

std::optional<int> BpeTokenizer::token_id(const std::string& token) const {
  if (auto a = added_token_id(token)) return a;
  auto it = impl_->vocab.find(token);
  return it == impl_->vocab.end() ? std::nullopt : std::optional<int>(it->second);
}

bool BpeTokenizer::is_special(int id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() && impl_->special[static_cast<size_t>(id)];
}

}  // namespace lvlm
