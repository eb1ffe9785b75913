// Loading the tokenizer and answering vocabulary questions (pieces, ids, special tokens).
// Encoding is in encode.cc, decoding in decode.cc.
#include <algorithm>

#include "lvlm_probe/common.h"
#include "tokenizer_impl.h"

namespace lvlm {
namespace {

// The id of `piece` when it is one of the SentencePiece pieces, else -1.
int sp_piece_id(const spm::Model& sp, const std::string& piece) {
  int id = sp.piece_to_id(piece);
  return id >= 0 && id < sp.size() && sp.id_to_piece(id) == piece ? id : -1;
}

// HF PreTrainedTokenizer.__init__: the listed added tokens, then every special token not yet among
// them: with its SentencePiece id when it is a piece, else with a new id after the vocabulary.
void register_added_tokens(Tokenizer::Impl& m) {
  for (const auto& t : m.settings.added) {
    m.added_by_id[t.id] = t;
    m.added_ids[t.content] = t.id;
  }
  m.vocab = m.sp_size;
  if (!m.added_by_id.empty()) m.vocab = std::max(m.vocab, m.added_by_id.rbegin()->first + 1);
  for (const auto& s : m.settings.all_special()) {
    if (s.content.empty() || m.added_ids.count(s.content)) continue;
    int id = sp_piece_id(m.sp, s.content);
    if (id < 0) id = m.vocab++;
    m.added_ids[s.content] = id;
    m.added_by_id[id] = {s.content, id, /*special=*/true, s.lstrip, s.rstrip};
  }
}

// The sets encode() and decode() consult, and the bos/eos/unk ids (-1 when the token is unset).
void index_special_tokens(Tokenizer::Impl& m) {
  for (const auto& s : m.settings.all_special()) {
    m.special_texts.insert(s.content);
    auto it = m.added_ids.find(s.content);
    if (it != m.added_ids.end()) m.special_ids.insert(it->second);
  }
  for (const auto& [id, t] : m.added_by_id)
    if (!m.special_texts.count(t.content)) m.set_apart_texts.insert(t.content);
  for (const auto& s : m.settings.additional_special)
    if (m.added_ids.count(s.content) && m.added_ids.at(s.content) >= m.sp_size) m.set_apart_texts.insert(s.content);
  auto id_of = [&](const std::optional<text::SpecialTokenSpec>& s) {
    return s && m.added_ids.count(s->content) ? m.added_ids.at(s->content) : -1;
  };
  m.bos = id_of(m.settings.bos);
  m.eos = id_of(m.settings.eos);
  m.unk = id_of(m.settings.unk);
}

// "<0x0A>" -> 0x0A; -1 when `piece` is not of that form.
int byte_value(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  try {
    return std::stoi(piece.substr(3, 2), nullptr, 16);
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

std::string Tokenizer::Impl::token(int id) const {
  auto it = added_by_id.find(id);
  if (it != added_by_id.end()) return it->second.content;
  return id >= 0 && id < sp_size ? sp.id_to_piece(id) : std::string();
}

Tokenizer Tokenizer::load(const std::string& model_dir) {
  if (!is_directory(model_dir))
    throw InputError(model_dir, "not a directory (expected a model directory holding tokenizer.model)");
  return load(join_path(model_dir, "tokenizer.model"), model_dir);
}

Tokenizer Tokenizer::load(const std::string& model_file, const std::string& settings_dir) {
  auto m = std::make_shared<Impl>();
  m->model_path = model_file;
  if (!file_exists(m->model_path))
    throw InputError(m->model_path, "missing (the SentencePiece tokenizer every LLaVA-1.5 checkpoint ships)");
  m->sp = spm::Model::parse(read_file(m->model_path, kMaxTokenizerModelBytes), m->model_path);
  m->sp_size = m->sp.size();
  m->settings = text::read_tokenizer_settings(settings_dir);
  if (!m->settings.legacy) {
    // HF get_spm_processor: model.normalizer_spec.MergeFrom(NormalizerSpec(add_dummy_prefix=False)).
    m->sp_no_prefix = m->sp;
    m->sp_no_prefix->set_add_dummy_prefix(false);
    const std::string unk_text = m->settings.unk ? m->settings.unk->content : "<unk>";
    m->unk_token_length = static_cast<int>(m->sp_no_prefix->encode(unk_text).size());
  }
  register_added_tokens(*m);
  index_special_tokens(*m);
  return Tokenizer(std::move(m));
}

std::string Tokenizer::piece(int id) const { return impl_->token(id); }

std::string Tokenizer::token_text(int id) const {
  const Impl& m = *impl_;
  if (!m.has_piece(id)) return "";
  const std::string p = m.token(id);
  if (m.added_by_id.count(id)) return p;
  const spm::PieceType type = m.sp.type(id);
  if (type == spm::PieceType::control || type == spm::PieceType::unknown) return p;
  if (type == spm::PieceType::byte) {
    const int b = byte_value(p);
    const bool readable = (b >= 0x20 && b < 0x7F) || b == '\t' || b == '\n' || b == '\r';
    return readable ? std::string(1, static_cast<char>(b)) : p;
  }
  return replace_all(p, kSpaceSymbol, " ");
}

int Tokenizer::bos_id() const { return impl_->bos; }
int Tokenizer::eos_id() const { return impl_->eos; }
int Tokenizer::unk_id() const { return impl_->unk; }
int Tokenizer::vocab_size() const { return impl_->vocab; }
bool Tokenizer::is_special(int id) const { return impl_->special_ids.count(id) > 0; }
bool Tokenizer::add_bos_token() const { return impl_->settings.add_bos_token; }
bool Tokenizer::legacy() const { return impl_->settings.legacy; }

std::optional<int> Tokenizer::added_token_id(const std::string& content) const {
  auto it = impl_->added_ids.find(content);
  if (it == impl_->added_ids.end()) return std::nullopt;
  return it->second;
}

}  // namespace lvlm
