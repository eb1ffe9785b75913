// Tokenizer loading, vocabulary queries and load errors (src/text/tokenizer.cc), plus two oracle
// checks: Debian's libsentencepiece (0.1.97) segments exactly as the Python one that made the
// references, and the tokenizer's own SentencePiece (src/text/sentencepiece.cc, used because
// libsentencepiece cannot share a process with libtorch) agrees with libsentencepiece.
#include <sentencepiece_processor.h>

#include <algorithm>
#include <random>

#include "../../src/text/sentencepiece.h"
#include "text/text_test_util.h"

namespace lvlm::test {
namespace {

TEST(Tokenizer, FixtureModelIsTheOneTheReferencesDescribe) {
  EXPECT_EQ(sha256_hex(read_file(data_path("tiny-llava/tokenizer.model"))),
            tokenization_refs()["tokenizer_model_sha256"].get<std::string>());
}

// Every key of tokenization.json's "vocab" object.
TEST(Tokenizer, VocabularyMatchesReference) {
  const Json& v = tokenization_refs()["vocab"];
  const Tokenizer& tok = fixture_tokenizer();
  EXPECT_EQ(tok.vocab_size(), v["model_text_vocab_size"].get<int>());
  EXPECT_EQ(tok.unk_id(), v["unk"].get<int>());
  EXPECT_EQ(tok.bos_id(), v["bos"].get<int>());
  EXPECT_EQ(tok.eos_id(), v["eos"].get<int>());
  EXPECT_EQ(tok.piece(v["byte_0x0A_id"]), "<0x0A>");
  EXPECT_EQ(tok.piece(v["space_piece_id"]), "\xE2\x96\x81");
  for (const auto& [content, id] : v["added_tokens"].items()) EXPECT_EQ(tok.added_token_id(content), id.get<int>());
  EXPECT_EQ(tok.added_token_id("<s>"), 1);  // special tokens are added tokens too (HF)
  EXPECT_EQ(tok.added_token_id("<nope>"), std::nullopt);

  // The byte pieces <0x00>..<0xFF> fill ids [first, last].
  const int first = v["byte_piece_ids"][0], last = v["byte_piece_ids"][1];
  ASSERT_EQ(last - first + 1, v["byte_pieces_count"].get<int>());
  char buf[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    EXPECT_EQ(tok.piece(first + b), buf);
  }

  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(data_path("tiny-llava/tokenizer.model")).ok());
  EXPECT_EQ(sp.GetPieceSize(), v["sentencepiece_pieces"].get<int>());
  EXPECT_EQ(sp.pad_id(), v["pad_in_sp_model"].get<int>());
}

TEST(Tokenizer, SettingsOfTheFixture) {
  const Tokenizer& tok = fixture_tokenizer();
  EXPECT_TRUE(tok.legacy());
  EXPECT_TRUE(tok.add_bos_token());
  for (int id : {0, 1, 2, 510, 511}) EXPECT_TRUE(tok.is_special(id)) << id;
  for (int id : {3, 13, 412, 509, 512, -1}) EXPECT_FALSE(tok.is_special(id)) << id;
}

// The C++ library (Debian 0.1.97) against the Python one behind tokenization.json: ids, pieces
// and decoded text of every reference string, without HF in between.
TEST(Tokenizer, SentencePieceCppMatchesPythonReference) {
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(data_path("tiny-llava/tokenizer.model")).ok());
  for (const Json& s : tokenization_refs()["strings"]) {
    const std::string text = s["text"];
    SCOPED_TRACE(text);
    EXPECT_EQ(sp.EncodeAsIds(text), ids_of(s["ids"]));
    EXPECT_EQ(sp.EncodeAsPieces(text), s["pieces"].get<std::vector<std::string>>());
    const std::string decoded = sp.DecodeIds(ids_of(s["ids"]));
    EXPECT_EQ(decoded, s["sp_decode"].get<std::string>());
    EXPECT_EQ(decoded == text, s["sp_roundtrip_exact"].get<bool>());
    const auto ids = ids_of(s["ids"]);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), sp.unk_id()) == 0, s["no_unk"].get<bool>());
  }
}

// Random text from fragments that stress normalisation and BPE (space runs, tabs, newlines, "▁",
// byte fallback, malformed UTF-8, NUL), encoded by both libraries with the dummy prefix on and off;
// random piece lists (byte runs cut mid-character, unknown and empty pieces, control pieces)
// decoded by both.
TEST(Tokenizer, OwnSentencePieceMatchesLibsentencepiece) {
  const std::string bytes = read_file(data_path("tiny-llava/tokenizer.model"));
  sentencepiece::SentencePieceProcessor lib, lib_no_prefix;
  ASSERT_TRUE(lib.LoadFromSerializedProto(bytes).ok());
  // normalizer_spec {add_dummy_prefix: false} appended: protobuf merges it, as HF's MergeFrom.
  ASSERT_TRUE(lib_no_prefix.LoadFromSerializedProto(bytes + std::string("\x1A\x02\x18\x00", 4)).ok());
  const spm::Model own = spm::Model::parse(bytes, "tokenizer.model");
  spm::Model own_no_prefix = own;
  own_no_prefix.set_add_dummy_prefix(false);
  ASSERT_EQ(own.size(), lib.GetPieceSize());

  const std::vector<std::string> fragments = {
      "Hello", "world", " ", "  ", "   ", "\t", "\n", "\r\n", "\xE2\x96\x81", "caf\xC3\xA9", "\xE6\x97\xA5",
      "\xF0\x9F\x98\x80", "\xC3", "\xFF", std::string(1, '\0'), "<s>", "<unk>", "?", "ASSISTANT:", "the", "ing", "1"};
  std::mt19937 rng(20240506);
  for (int n = 0; n < 2000; ++n) {
    std::string text;
    for (int k = std::uniform_int_distribution<int>(0, 8)(rng); k > 0; --k)
      text += fragments[std::uniform_int_distribution<size_t>(0, fragments.size() - 1)(rng)];
    SCOPED_TRACE(::testing::Message() << "text: " << ::testing::PrintToString(text));
    ASSERT_EQ(own.encode(text), lib.EncodeAsIds(text));
    ASSERT_EQ(own_no_prefix.encode(text), lib_no_prefix.EncodeAsIds(text));
  }
  std::vector<std::string> pool = {"", "\xE2\x96\x81", "\xE2\x96\x81\xE2\x96\x81", "not-a-piece", "<unk>", "<s>", "</s>"};
  for (int id = 3; id < own.size(); id += 7) pool.push_back(own.id_to_piece(id));
  for (int n = 0; n < 2000; ++n) {
    std::vector<std::string> pieces;
    for (int k = std::uniform_int_distribution<int>(1, 10)(rng); k > 0; --k)
      pieces.push_back(pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)]);
    SCOPED_TRACE(::testing::Message() << "pieces: " << ::testing::PrintToString(pieces));
    ASSERT_EQ(own.decode(pieces), lib.DecodePieces(pieces));
    ASSERT_EQ(own_no_prefix.decode(pieces), lib_no_prefix.DecodePieces(pieces));
  }
}

TEST(Tokenizer, PieceMatchesReferencePieces) {
  const Tokenizer& tok = fixture_tokenizer();
  for (const Json& s : tokenization_refs()["strings"]) {
    const auto ids = ids_of(s["ids"]);
    for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(tok.piece(ids[i]), s["pieces"][i].get<std::string>());
  }
  const Json& e2e = tokenization_refs()["end_to_end"];
  const auto new_ids = ids_of(e2e["new_token_ids"]);
  for (size_t i = 0; i < new_ids.size(); ++i) EXPECT_EQ(tok.piece(new_ids[i]), e2e["new_pieces"][i].get<std::string>());
  EXPECT_EQ(tok.piece(510), "<image>");
  EXPECT_EQ(tok.piece(511), "<pad>");
  EXPECT_EQ(tok.piece(512), "");  // no piece beyond the vocabulary
  EXPECT_EQ(tok.piece(-200), "");
}

TEST(Tokenizer, TokenTextIsReadableAndValidUtf8) {
  const Tokenizer& tok = fixture_tokenizer();
  EXPECT_EQ(tok.token_text(287), " m");    // "▁m"
  EXPECT_EQ(tok.token_text(476), "6");
  EXPECT_EQ(tok.token_text(412), " ");     // "▁"
  EXPECT_EQ(tok.token_text(260), "  ");    // "▁▁"
  EXPECT_EQ(tok.token_text(494), "é");     // a whole character piece
  EXPECT_EQ(tok.token_text(13), "\n");     // <0x0A>
  EXPECT_EQ(tok.token_text(12), "\t");     // <0x09>
  EXPECT_EQ(tok.token_text(39), "$");      // <0x24>
  EXPECT_EQ(tok.token_text(66), "?");      // <0x3F>
  EXPECT_EQ(tok.token_text(198), "<0xC3>");  // first byte of "ï": not text on its own
  EXPECT_EQ(tok.token_text(3), "<0x00>");
  EXPECT_EQ(tok.token_text(1), "<s>");
  EXPECT_EQ(tok.token_text(2), "</s>");
  EXPECT_EQ(tok.token_text(0), "<unk>");
  EXPECT_EQ(tok.token_text(510), "<image>");
  EXPECT_EQ(tok.token_text(511), "<pad>");
  EXPECT_EQ(tok.token_text(512), "");
  EXPECT_EQ(tok.token_text(-1), "");
  // Every id: "▁" never survives, and no lone bytes >= 0x80 leak out.
  for (int id = 0; id < tok.vocab_size(); ++id) {
    const std::string t = tok.token_text(id);
    EXPECT_EQ(t.find("\xE2\x96\x81"), std::string::npos) << id;
    if (t.size() == 1) {
      EXPECT_LT(static_cast<unsigned char>(t[0]), 0x80) << id;
    }
  }
}

TEST(Tokenizer, CopiesShareTheLoadedModel) {
  Tokenizer a = Tokenizer::load(tiny_model());
  Tokenizer b = a;
  EXPECT_EQ(a.encode("Hello world", true), b.encode("Hello world", true));
}

// --- load errors: exit code 3, the message names the file -------------------------------------

std::string load_error(const std::string& dir) {
  try {
    Tokenizer::load(dir);
  } catch (const InputError& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    return e.what();
  }
  ADD_FAILURE() << "no InputError for " << dir;
  return "";
}

TEST(TokenizerErrors, MissingDirectory) {
  EXPECT_EQ(load_error("/nonexistent/model"),
            "/nonexistent/model: not a directory (expected a model directory holding tokenizer.model)");
}

TEST(TokenizerErrors, MissingTokenizerModel) {
  TempDir dir;
  EXPECT_EQ(load_error(dir.path()),
            dir.file("tokenizer.model") + ": missing (the SentencePiece tokenizer every LLaVA-1.5 checkpoint ships)");
}

TEST(TokenizerErrors, CorruptTokenizerModel) {
  const std::string good = read_file(data_path("tiny-llava/tokenizer.model"));
  const std::vector<std::pair<const char*, std::string>> corrupt = {
      {"empty", ""},
      {"truncated", good.substr(0, good.size() / 2)},
      {"json", "{\"model_type\": \"llama\"}"},
      {"random", std::string("\x8f\xff\x01\x02garbage\x00\x17", 13)},
      {"zeros", std::string(4096, '\0')},
  };
  for (const auto& [name, bytes] : corrupt) {
    SCOPED_TRACE(name);
    TempDir dir;
    write_file_atomic(dir.file("tokenizer.model"), bytes);
    const std::string msg = load_error(dir.path());
    EXPECT_EQ(msg.rfind(dir.file("tokenizer.model") + ": not a SentencePiece model (", 0), 0u) << msg;
  }
}

TEST(TokenizerErrors, TokenizerModelIsADirectory) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("tokenizer.model"));
  EXPECT_EQ(load_error(dir.path()), dir.file("tokenizer.model") + ": is a directory, expected a file");
}

TEST(TokenizerErrors, MalformedConfigNamesTheFile) {
  TempDir dir;
  write_tokenizer_dir(dir, Json::object());
  write_file_atomic(dir.file("tokenizer_config.json"), "{\"legacy\": tru");
  EXPECT_EQ(load_error(dir.path()).rfind(dir.file("tokenizer_config.json") + ": invalid JSON", 0), 0u);
}

}  // namespace
}  // namespace lvlm::test
