#include "vision.h"

#include <algorithm>
#include <cmath>

namespace lvlm::qwen2_vl {
namespace {

at::Tensor long_tensor(const std::vector<int64_t>& v, at::Device device) {
  return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(device);
}

// cu_seqlens of full attention: one segment per frame of each image (repeat_interleave(h * w, t)).
std::vector<int64_t> frame_boundaries(const std::vector<GridTHW>& grids) {
  std::vector<int64_t> b{0};
  for (const auto& g : grids)
    for (int64_t t = 0; t < g.t; ++t) b.push_back(b.back() + g.h * g.w);
  return b;
}

// Rows regrouped by merge units: rows [u*i, u*i + u) move to place `order` gives them.
at::Tensor reorder_units(const at::Tensor& x, const at::Tensor& order, int64_t unit) {
  const int64_t n = x.size(0);
  return x.reshape({n / unit, unit, x.size(1)}).index_select(0, order).reshape({n, x.size(1)});
}

}  // namespace

at::Tensor vision_rotary_angles(const std::vector<GridTHW>& grids, int merge, int head_dim) {
  std::vector<int64_t> rows, cols;
  for (const auto& g : grids)
    for (int64_t t = 0; t < g.t; ++t)
      for (int64_t hb = 0; hb < g.h / merge; ++hb)
        for (int64_t wb = 0; wb < g.w / merge; ++wb)
          for (int64_t i = 0; i < merge; ++i)
            for (int64_t j = 0; j < merge; ++j) rows.push_back(hb * merge + i), cols.push_back(wb * merge + j);
  // VisionRotaryEmbedding(head_dim / 2): theta 10000 over half the head; each angle is one float32
  // product position x frequency, as indexing transformers' outer-product table gives.
  const at::Tensor inv_freq = Rope::make(head_dim / 2, 10000.0, 1.0, at::kCPU).inv_freq;
  auto angles = [&](const std::vector<int64_t>& pos) { return at::outer(long_tensor(pos, at::kCPU).to(at::kFloat), inv_freq); };
  return at::cat({angles(rows), angles(cols)}, 1);
}

WindowLayout window_layout(const std::vector<GridTHW>& grids, int merge, int window) {
  WindowLayout out;
  out.boundaries = {0};
  int64_t base = 0;
  for (const auto& g : grids) {
    const int64_t gh = g.h / merge, gw = g.w / merge;
    const int64_t windows_h = (gh + window - 1) / window, windows_w = (gw + window - 1) / window;
    for (int64_t t = 0; t < g.t; ++t)
      for (int64_t wy = 0; wy < windows_h; ++wy)
        for (int64_t wx = 0; wx < windows_w; ++wx) {
          int64_t count = 0;
          for (int64_t y = wy * window; y < std::min(gh, (wy + 1) * window); ++y)
            for (int64_t x = wx * window; x < std::min(gw, (wx + 1) * window); ++x, ++count)
              out.order.push_back(base + (t * gh + y) * gw + x);
          out.boundaries.push_back(out.boundaries.back() + count * merge * merge);
        }
    base += g.t * gh * gw;
  }
  return out;
}

VisionTower::VisionTower(WeightLoader& w, const WeightNames& names, const VisionConfig& c, bool windowed)
    : config_(c), windowed_(windowed) {
  const int64_t d = c.width, ff = c.intermediate_size, merged = int64_t(d) * c.merge_unit();
  patch_weight_ = w.get(names.patch_embed(), {d, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size});
  if (patch_weight_.defined()) patch_weight_ = patch_weight_.reshape({d, c.patch_columns()});
  for (int i = 0; i < c.depth; ++i) {
    const VisionBlockNames n = vision_block_names(names, i);
    Block b;
    if (windowed) {
      b.norm1_rms = RMSNorm::load(w, n.norm1, d, 1e-6);
      b.norm2_rms = RMSNorm::load(w, n.norm2, d, 1e-6);
      b.gate = Linear::load(w, n.gate, ff, d, true);
      b.up = Linear::load(w, n.up, ff, d, true);
      b.down = Linear::load(w, n.down, d, ff, true);
    } else {
      b.norm1_ln = LayerNorm::load(w, n.norm1, d, 1e-6);
      b.norm2_ln = LayerNorm::load(w, n.norm2, d, 1e-6);
      b.fc1 = Linear::load(w, n.fc1, ff, d, true);
      b.fc2 = Linear::load(w, n.fc2, d, ff, true);
    }
    b.qkv = Linear::load(w, n.qkv, 3 * d, d, true);
    b.proj = Linear::load(w, n.proj, d, d, true);
    blocks_.push_back(std::move(b));
  }
  if (windowed) merger_rms_ = RMSNorm::load(w, names.merger_norm(), d, 1e-6);
  else merger_ln_ = LayerNorm::load(w, names.merger_norm(), d, 1e-6);
  merger_fc1_ = Linear::load(w, names.merger_linear(1), merged, merged, true);
  merger_fc2_ = Linear::load(w, names.merger_linear(2), c.out_size, merged, true);
}

at::Tensor VisionTower::norm1(const Block& b, const at::Tensor& x) const { return windowed_ ? b.norm1_rms(x) : b.norm1_ln(x); }
at::Tensor VisionTower::norm2(const Block& b, const at::Tensor& x) const { return windowed_ ? b.norm2_rms(x) : b.norm2_ln(x); }

at::Tensor VisionTower::activation(const at::Tensor& x) const {
  if (config_.hidden_act == "quick_gelu") return quick_gelu(x);
  if (config_.hidden_act == "silu") return at::silu(x);
  return at::gelu(x);
}

at::Tensor VisionTower::mlp(const Block& b, const at::Tensor& x) const {
  if (windowed_) return b.down(activation(b.gate(x)) * b.up(x));  // Qwen2_5_VLMLP
  return b.fc2(activation(b.fc1(x)));                                // VisionMlp
}

// VisionAttention: rotary in float32 (apply_rotary_pos_emb_vision), then attention within each
// segment [segments[i], segments[i+1]) of rows, softmax upcast to float32.
at::Tensor VisionTower::attention(const Block& b, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                  const std::vector<int64_t>& segments) const {
  const int64_t n = x.size(0), heads = config_.num_heads, hd = config_.head_dim();
  const at::ScalarType dtype = x.scalar_type();
  at::Tensor qkv = b.qkv(x).view({n, 3, heads, hd});
  auto rotate = [&](const at::Tensor& t) { return apply_rope(t.to(at::kFloat), cos, sin).to(dtype); };
  at::Tensor q = rotate(qkv.select(1, 0)), k = rotate(qkv.select(1, 1)), v = qkv.select(1, 2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  std::vector<at::Tensor> outs;
  for (size_t s = 0; s + 1 < segments.size(); ++s) {
    const int64_t first = segments[s], len = segments[s + 1] - segments[s];
    if (len == 0) continue;
    auto part = [&](const at::Tensor& t) { return t.narrow(0, first, len).transpose(0, 1); };  // [heads, len, hd]
    at::Tensor scores = batched_matmul(part(q), part(k).transpose(1, 2)) * scale;
    at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(dtype);
    outs.push_back(batched_matmul(probs, part(v)).transpose(0, 1));  // [len, heads, hd]
  }
  return b.proj(at::cat(outs, 0).reshape({n, heads * hd}));
}

// PatchMerger: norm, then each merge unit's rows side by side through a 2-layer GELU MLP.
at::Tensor VisionTower::merge_patches(const at::Tensor& x) const {
  at::Tensor h = windowed_ ? merger_rms_(x) : merger_ln_(x);
  h = h.reshape({x.size(0) / config_.merge_unit(), x.size(1) * config_.merge_unit()});
  return merger_fc2_(at::gelu(merger_fc1_(h)));
}

at::Tensor VisionTower::forward(const at::Tensor& pixels, const std::vector<GridTHW>& grids) const {
  const int merge = config_.spatial_merge_size;
  int64_t rows = 0;
  for (const auto& g : grids) {
    if (g.t <= 0 || g.h <= 0 || g.w <= 0 || g.h % merge != 0 || g.w % merge != 0)
      throw UsageError("image grid " + std::to_string(g.t) + "x" + std::to_string(g.h) + "x" + std::to_string(g.w) +
                       " is not positive or not divisible by spatial_merge_size " + std::to_string(merge));
    rows += g.patches();
  }
  if (pixels.dim() != 2 || pixels.size(0) != rows || pixels.size(1) != config_.patch_columns())
    throw UsageError("pixel_values must be [" + std::to_string(rows) + ", " + std::to_string(config_.patch_columns()) +
                     "] for the image grids given");
  const at::Device device = patch_weight_.device();
  // PatchEmbed: the Conv3d's kernel covers a whole pixel row, so it is one product per row.
  at::Tensor h = linear_forward(pixels.to(device, patch_weight_.scalar_type()), patch_weight_);
  at::Tensor angles = vision_rotary_angles(grids, merge, config_.head_dim()).to(device);
  const std::vector<int64_t> frames = frame_boundaries(grids);
  WindowLayout windows;
  at::Tensor order;
  if (windowed_) {
    windows = window_layout(grids, merge, config_.merger_window());
    order = long_tensor(windows.order, device);
    h = reorder_units(h, order, config_.merge_unit());
    angles = reorder_units(angles, order, config_.merge_unit());
  }
  at::Tensor emb = at::cat({angles, angles}, 1);
  const at::Tensor cos = emb.cos().unsqueeze(1), sin = emb.sin().unsqueeze(1);  // [rows, 1, head_dim]
  const auto& full = config_.fullatt_block_indexes;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const bool windowed_block = windowed_ && std::find(full.begin(), full.end(), static_cast<int>(i)) == full.end();
    const Block& b = blocks_[i];
    h = h + attention(b, norm1(b, h), cos, sin, windowed_block ? windows.boundaries : frames);
    h = h + mlp(b, norm2(b, h));
  }
  h = merge_patches(h);
  if (windowed_) h = h.index_select(0, at::argsort(order));  // back to the merged patches' own order
  return h;
}

}  // namespace lvlm::qwen2_vl
