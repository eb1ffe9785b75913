#!/usr/bin/env python3
"""References for the image module's tests (tests/image/), from PIL and transformers themselves.

Run by hand, never by the tests (they need no Python):
    /opt/refpy/bin/python scripts/reference/make_image_refs.py [--photos ../shared/datasets/photos]
(Python 3.11, Debian's Pillow 9.4.0 linked to libjpeg-turbo 2.1.5, numpy, transformers 4.40.2: the
versions that made tests/data/tiny-llava/reference.json; they are recorded in the manifest.)

Writes under tests/data/images/:
  odd/*         tiny images of every kind the decoders must get right, made with PIL where PIL can
                write them and byte by byte where it cannot (16-bit RGB PNG, palettes shorter than
                the indices, BMP bit fields and RLE, hand-laid GIF frames, ...); odd/jpeg_ycck.jpg
                is kept, not made (see KEPT);
  photos/*.jpg  copies of the real photos (MIT licence, see photos/LICENSE);
  resize_src_*.rgb  seeded random RGB images (raw bytes) for the resize table;
  manifest.json for every image PIL's Image.open(f).convert("RGB") result (size and SHA-256 of the
                RGB bytes) or its error, what lvlm-probe must do (match, or an InputError whose
                message contains a given text), for the photos CLIPImageProcessor's 336-pixel
                preprocessing (LLaVA-1.5) with and without expand2square, PIL's resize of the
                random images for many sizes and filters, and transformers' output-size and
                center-crop rules on edge cases.
Everything is seeded: a second run rewrites the same bytes.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import struct
import zlib

import numpy as np
import PIL
import transformers
from PIL import Image
from transformers import CLIPImageProcessor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "images")
RNG = np.random.default_rng(20240607)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def noise(h, w, c=None, hi=256, dtype=np.uint8):
    shape = (h, w) if c is None else (h, w, c)
    return RNG.integers(0, hi, size=shape).astype(dtype)


# ---- PNG by hand ------------------------------------------------------------------------------
def chunk(cid, data, crc=None):
    crc = zlib.crc32(cid + data) if crc is None else crc
    return struct.pack(">I", len(data)) + cid + data + struct.pack(">I", crc)


def pack_rows(a, depth):
    """Samples (h, w[, c]) -> raw scanlines, each with filter byte 0."""
    a = a.reshape(a.shape[0], -1)
    rows = []
    for r in a:
        if depth == 16:
            b = r.astype(">u2").tobytes()
        elif depth == 8:
            b = r.astype(np.uint8).tobytes()
        else:
            b = np.packbits(np.unpackbits(r.astype(np.uint8)[:, None], axis=1)[:, 8 - depth:].reshape(-1)).tobytes()
        rows.append(b"\0" + b)
    return b"".join(rows)


def adam7(a, depth):
    out = b""
    for y0, x0, dy, dx in [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]:
        sub = a[y0::dy, x0::dx]
        if sub.shape[0] and sub.shape[1]:
            out += pack_rows(sub, depth)
    return out


def make_png(a, depth, colour, plte=None, trns=None, interlace=0, before_idat=b"", idat_split=1, zlib_cut=0, extra=0,
             zlib_flip=False):
    h, w = a.shape[:2]
    raw = (adam7(a, depth) if interlace else pack_rows(a, depth)) + b"\0" * extra
    z = zlib.compress(raw, 9)
    z = z[:len(z) - zlib_cut]
    z = z[:-1] + bytes([z[-1] ^ 1]) if zlib_flip else z
    parts = [z[i * len(z) // idat_split:(i + 1) * len(z) // idat_split] for i in range(idat_split)]
    s = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace))
    s += (chunk(b"PLTE", bytes(plte)) if plte is not None else b"") + (chunk(b"tRNS", bytes(trns)) if trns else b"")
    return s + before_idat + b"".join(chunk(b"IDAT", p) for p in parts) + chunk(b"IEND", b"")


# ---- BMP by hand ------------------------------------------------------------------------------
def make_bmp(w, h, bits, pixels, compression=0, palette=b"", header_size=40, masks=None, top_down=False):
    if header_size == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        info = struct.pack("<IiiHHIIiiII", header_size, w, -h if top_down else h, 1, bits, compression,
                           len(pixels), 2835, 2835, len(palette) // 4 if bits <= 8 else 0, 0)
        extra = b""
        if masks and header_size >= 56:
            extra = struct.pack("<4I", *masks)
        info += extra + b"\0" * (header_size - len(info) - len(extra))
        if masks and header_size == 40:
            info += struct.pack("<3I", *masks[:3])
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def bottom_up(rows):
    """Row byte strings (top first) -> BMP pixel data: bottom row first, each padded to 4 bytes."""
    return b"".join(r + b"\0" * (-len(r) % 4) for r in reversed(rows))


# ---- GIF by hand: literal-only LZW (a clear code before the table would grow) ------------------
def lzw_literals(indices, min_bits):
    clear, cs = 1 << min_bits, min_bits + 1
    codes, run = [], 0
    for v in indices:
        if run == 0:
            codes.append(clear)
        codes.append(int(v))
        run = (run + 1) % (clear - 2)
    codes.append(clear + 1)
    acc = nbits = 0
    out = bytearray()
    for c in codes:
        acc |= c << nbits
        nbits += cs
        while nbits >= 8:
            out.append(acc & 255)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 255)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255]) for i in range(0, len(out), 255))
    return bytes([min_bits]) + blocks + b"\0"


def make_gif(sw, sh, frames, global_pal=None, gce_first=None):
    flags = 0
    if global_pal is not None:
        flags = 0x80 | (int(np.log2(len(global_pal) // 3)) - 1)
    s = b"GIF89a" + struct.pack("<HHBBB", sw, sh, flags, 0, 0) + (bytes(global_pal) if global_pal is not None else b"")
    for f in frames:
        if f.get("trns") is not None:
            s += b"!\xf9\x04" + bytes([0x01 | (f.get("dispose", 0) << 2)]) + b"\x0a\x00" + bytes([f["trns"]]) + b"\0"
        idx = f["idx"]
        h, w = idx.shape
        lflags = 0x40 if f.get("interlace") else 0
        lp = f.get("local")
        if lp is not None:
            lflags |= 0x80 | (int(np.log2(len(lp) // 3)) - 1)
        s += b"," + struct.pack("<HHHHB", f.get("x", 0), f.get("y", 0), w, h, lflags) + (bytes(lp) if lp is not None else b"")
        rows = idx
        if f.get("interlace"):
            rows = np.concatenate([idx[0::8], idx[4::8], idx[2::4], idx[1::2]])
        s += lzw_literals(rows.reshape(-1), f.get("bits", 8))
    return s + b";"


def pil_bytes(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


# ---- the odd images ---------------------------------------------------------------------------
def odd_png():
    rgb = noise(7, 13, 3)
    pal6 = Image.new("P", (12, 9))
    pal6.putpalette([200, 10, 10, 10, 200, 10, 10, 10, 200, 250, 250, 0, 0, 250, 250, 90, 90, 90])
    pal6.putdata(list(noise(9, 12, hi=6).reshape(-1)))
    pal200 = Image.new("P", (10, 10))
    pal200.putpalette(list(noise(200, 1, 3).reshape(-1)))
    pal200.putdata(list(noise(10, 10, hi=200).reshape(-1)))
    g16 = noise(6, 9, hi=1200, dtype=np.uint16)
    g16[0, :4] = [255, 256, 65535, 0]
    frames = [Image.fromarray(noise(6, 8, 4)), Image.fromarray(noise(6, 8, 4))]
    text = b"".join(chunk(c, d) for c, d in [(b"tEXt", b"Comment\0hi"), (b"gAMA", struct.pack(">I", 45455))])
    good = make_png(noise(9, 11, 3), 8, 2)
    idat_len = struct.unpack(">I", good[33:37])[0]
    return [
        ("png_rgb8.png", pil_bytes(Image.fromarray(rgb), "PNG"), None, "8-bit RGB"),
        ("png_palette4_trns.png", pil_bytes(pal6, "PNG", transparency=2), None, "4-bit palette, index 2 transparent: shows its colour"),
        ("png_palette8_trns_alpha.png", pil_bytes(pal200, "PNG", transparency=bytes(range(0, 200, 2))), None, "tRNS alpha per entry"),
        ("png_palette_short.png", make_png(noise(8, 8), 8, 3, plte=[255, 0, 0, 0, 255, 0, 0, 0, 255]), None,
         "PLTE of 3 entries, indices to 255: PIL's grey ramp past the palette"),
        ("png_palette1.png", make_png(noise(5, 11, hi=2), 1, 3, plte=[10, 20, 30, 200, 100, 50]), None, "1-bit palette"),
        ("png_palette2_past_end.png", make_png(noise(6, 7, hi=4), 2, 3, plte=[9, 8, 7, 60, 50, 40, 1, 2, 250]), None,
         "2-bit palette of 3 entries, index 3 used"),
        ("png_palette_no_plte.png", make_png(noise(4, 4), 8, 3), None, "palette image without PLTE"),
        ("png_rgba_semi.png", pil_bytes(Image.fromarray(noise(6, 9, 4)), "PNG"), None, "RGBA, random alpha incl. 0: dropped"),
        ("png_la.png", pil_bytes(Image.fromarray(noise(5, 6, 2), "LA"), "PNG"), None, "grey + alpha"),
        ("png_gray_trns.png", pil_bytes(Image.fromarray(noise(5, 7)), "PNG", transparency=7), None, "grey with tRNS"),
        ("png_gray16.png", pil_bytes(Image.fromarray(g16), "PNG"), None, "16-bit grey incl. > 255: clipped"),
        ("png_gray16_adam7.png", make_png(g16, 16, 0, interlace=1), None, "16-bit grey, interlaced"),
        ("png_rgb16.png", make_png(noise(5, 6, 3, hi=65536, dtype=np.uint16), 16, 2), None, "16-bit RGB: high byte"),
        ("png_rgba16.png", make_png(noise(5, 6, 4, hi=65536, dtype=np.uint16), 16, 6), None, "16-bit RGBA"),
        ("png_la16.png", make_png(noise(5, 6, 2, hi=65536, dtype=np.uint16), 16, 4), None, "16-bit grey + alpha: high byte"),
        ("png_1bit.png", pil_bytes(Image.fromarray(noise(7, 13, hi=2).astype(bool)), "PNG"), None, "mode 1"),
        ("png_gray2.png", make_png(noise(5, 9, hi=4), 2, 0), None, "2-bit grey"),
        ("png_gray4.png", make_png(noise(5, 9, hi=16), 4, 0), None, "4-bit grey"),
        ("png_rgb_adam7.png", make_png(noise(11, 13, 3), 8, 2, interlace=1), None, "Adam7 interlaced RGB"),
        ("png_idat_split.png", make_png(noise(9, 11, 3), 8, 2, idat_split=3, before_idat=text), None, "3 IDATs, text chunks"),
        ("png_zlib_no_adler.png", make_png(noise(9, 11, 3), 8, 2, zlib_cut=4), None, "zlib stream without its Adler-32"),
        ("png_extra_data.png", make_png(noise(9, 11, 3), 8, 2, extra=34), None, "zlib data longer than the image"),
        ("png_bad_adler.png", make_png(noise(9, 11, 3), 8, 2, zlib_flip=True), "incorrect data check",
         "zlib Adler-32 wrong: PIL's zlib reports a broken stream"),
        ("png_idat_past_end.png", good[:33] + struct.pack(">I", idat_len + 50) + good[37:37 + 4 + idat_len], None,
         "IDAT length runs past the end of the file, data complete: PIL decodes it"),
        ("png_trailing_chunk_cut.png", good[:-12] + struct.pack(">I", 100) + b"tEXt" + b"Comment\0hi", "truncated",
         "a chunk after the image data is cut: PIL's load_end fails"),
        ("png_bad_crc.png", good[:33] + chunk(b"tEXt", b"a\0b", crc=1) + good[33:], "checksum", "bad CRC before IDAT"),
        ("png_no_iend.png", good[:-12], None, "IEND missing"),
        ("png_truncated.png", good[:len(good) - 40], "truncated", "cut inside IDAT"),
        ("apng_2frames.png", pil_bytes(frames[0], "PNG", save_all=True, append_images=frames[1:]), None, "APNG: frame 0"),
        ("apng_default_image.png", pil_bytes(frames[0], "PNG", save_all=True, append_images=frames[1:], default_image=True),
         None, "APNG whose IDAT is not a frame"),
        ("png_bomb.png", make_png(np.zeros((1, 1), np.uint8), 8, 0)[:16] + struct.pack(">II", 100000, 100000) + b"\x08\0\0\0\0"
         + struct.pack(">I", zlib.crc32(b"IHDR" + struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)))
         + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""), "decompression bomb", "IHDR claims 100000 x 100000"),
    ]


def odd_jpeg():
    smooth = np.clip(np.add.outer(np.arange(29) * 7, np.arange(37) * 5)[:, :, None] + noise(29, 37, 3, hi=40), 0, 255)
    im = Image.fromarray(smooth.astype(np.uint8))
    base = pil_bytes(im, "JPEG", quality=90)
    prog = pil_bytes(im, "JPEG", quality=90, progressive=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    cmyk = Image.fromarray(noise(9, 10, 4), "CMYK")
    corrupt = bytearray(base)
    sos = base.index(b"\xff\xda")
    for i in range(sos + 40, sos + 60):
        corrupt[i] = (corrupt[i] * 7 + 13) & 0x7F
    bomb = bytearray(base)
    sof = base.index(b"\xff\xc0")
    bomb[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
    return [
        ("jpeg_420.jpg", base, None, "4:2:0, 37 x 29"),
        ("jpeg_444.jpg", pil_bytes(im, "JPEG", quality=95, subsampling=0), None, "4:4:4"),
        ("jpeg_422.jpg", pil_bytes(im, "JPEG", quality=80, subsampling=1), None, "4:2:2"),
        ("jpeg_gray.jpg", pil_bytes(im.convert("L"), "JPEG"), None, "1 component"),
        ("jpeg_cmyk.jpg", pil_bytes(cmyk, "JPEG", quality=95), None, "Adobe CMYK: inverted, then cmyk2rgb"),
        ("jpeg_progressive.jpg", prog, None, "progressive"),
        ("jpeg_optimized.jpg", pil_bytes(im, "JPEG", optimize=True), None, "optimised Huffman tables"),
        ("jpeg_exif_rotate.jpg", pil_bytes(im, "JPEG", exif=exif.tobytes()), None, "EXIF orientation 6: not applied"),
        ("jpeg_truncated.jpg", base[:sos + (len(base) - sos) // 2], "truncated", "cut in the scan"),
        ("jpeg_progressive_truncated.jpg", prog[:len(prog) * 8 // 10], "truncated", "progressive, cut"),
        ("jpeg_no_eoi.jpg", base[:-2], "truncated", "EOI missing: the Huffman decoder reads past the last MCU, PIL says truncated"),
        ("jpeg_corrupt_data.jpg", bytes(corrupt), None, "garbage in the entropy data, decoded silently"),
        ("jpeg_cut_with_eoi.jpg", base[:sos + (len(base) - sos) // 2] + b"\xff\xd9", None,
         "scan cut short, EOI present: libjpeg warns (premature end of data segment), PIL keeps the pixels"),
        ("jpeg_extra_bytes.jpg", base[:-2] + b"garbage!\xff\xd9", None, "bytes before EOI: libjpeg warns, PIL keeps the pixels"),
        ("jpeg_bomb.jpg", bytes(bomb), "decompression bomb", "SOF claims 65000 x 65000"),
    ]


def odd_gif():
    pal = list(noise(16, 1, 3).reshape(-1))
    grey2 = [0, 0, 0, 1, 1, 1]
    few = Image.fromarray((noise(20, 40, hi=5) * 40).astype(np.uint8)).convert("P")
    f1 = Image.new("P", (9, 7))
    f1.putpalette(pal)
    f1.putdata(list(noise(7, 9, hi=16).reshape(-1)))
    f2 = f1.copy()
    f2.putdata(list(noise(7, 9, hi=16).reshape(-1)))
    idx = noise(4, 5, hi=16)
    gif_trunc = pil_bytes(few, "GIF")
    zero_size = bytearray(make_gif(4, 3, [dict(idx=noise(3, 4, hi=16), bits=4)], global_pal=pal))
    zero_size[13 + 48 + 5:13 + 48 + 9] = bytes(4)  # the image descriptor's width and height
    return [
        ("gif_pil_2frames_trns.gif", pil_bytes(f1, "GIF", save_all=True, append_images=[f2], transparency=3, duration=50), None,
         "PIL-written, transparent index 3, 2 frames: frame 0"),
        ("gif_pil_interlaced.gif", pil_bytes(few, "GIF"), None, "PIL-written 40 x 20: interlaced, real LZW"),
        ("gif_offset_frame.gif", make_gif(10, 8, [dict(idx=idx, x=2, y=3, bits=4)], global_pal=pal), None,
         "frame smaller than the screen: the rest is index 0"),
        ("gif_offset_frame_trns.gif", make_gif(10, 8, [dict(idx=idx, x=2, y=3, bits=4, trns=5)], global_pal=pal), None,
         "same with transparent index 5: the rest is index 5's colour"),
        ("gif_frame_past_screen.gif", make_gif(4, 4, [dict(idx=noise(3, 5, hi=16), x=2, y=2, bits=4)], global_pal=pal), None,
         "frame pokes out of the screen: the canvas grows"),
        ("gif_local_palette.gif", make_gif(5, 4, [dict(idx=idx, bits=4, local=list(noise(16, 1, 3).reshape(-1)))], global_pal=pal),
         None, "local palette wins"),
        ("gif_local_grey_palette.gif", make_gif(5, 4, [dict(idx=noise(4, 5, hi=2), bits=2, local=grey2)], global_pal=pal), None,
         "local palette is a grey ramp: PIL falls back to the global one"),
        ("gif_no_palette.gif", make_gif(5, 4, [dict(idx=noise(4, 5), bits=8)]), None, "no palette: grey"),
        ("gif_short_palette.gif", make_gif(6, 5, [dict(idx=noise(5, 6), bits=8)], global_pal=pal[:12]), None,
         "4 colours, indices to 255: grey ramp past the palette"),
        ("gif_interlaced_small.gif", make_gif(5, 3, [dict(idx=noise(3, 5, hi=16), bits=4, interlace=True)], global_pal=pal), None,
         "interlaced, 3 rows"),
        ("gif_zero_width_frame.gif", bytes(zero_size), None,
         "a 0 x 0 frame at (0, 0): PIL's decoder takes the whole canvas as the tile"),
        ("gif_truncated.gif", gif_trunc[:len(gif_trunc) // 2], "truncated", "cut in the LZW data"),
        ("gif_bomb.gif", make_gif(1, 1, [dict(idx=noise(1, 1, hi=16), x=65000, y=65000, bits=4)], global_pal=pal),
         "decompression bomb", "frame offset grows the canvas to 65001 x 65001"),
    ]


def odd_bmp():
    w, h = 7, 5
    pal16 = bytes(np.concatenate([noise(16, 1, 3), np.zeros((16, 1, 1), np.uint8)], axis=2).reshape(-1))
    grey256 = bytes(np.repeat(np.arange(256, dtype=np.uint8), 4).reshape(256, 4) * np.array([1, 1, 1, 0], np.uint8))
    px16 = [noise(1, w, hi=65536, dtype=np.uint16).astype("<u2").tobytes() for _ in range(h)]
    px24 = [noise(1, w, 3).tobytes() for _ in range(h)]
    px32 = [noise(1, w, 4).tobytes() for _ in range(h)]
    nib = [bytes((a << 4) | b for a, b in noise(4, 2, hi=16)) for _ in range(h)]  # 8 nibbles >= 7 pixels
    rle8 = bytes([3, 1, 0, 5, 2, 3, 4, 5, 6, 0, 0, 0, 8, 7, 0, 0, 2, 9, 0, 0, 0, 4, 10, 11, 12, 13, 4, 14, 0, 1])
    rle8_delta = bytes([2, 1, 0, 2, 3, 0, 3, 5, 0, 0, 8, 2, 0, 0, 8, 3, 0, 0, 8, 4, 0, 1])
    rle4 = bytes([3, 0x12, 0, 4, 0x34, 0x56, 0, 0, 7, 0xAB, 0, 0, 0, 6, 0x12, 0x34, 0x56, 0, 1, 0xF0, 0, 1])
    rle4_odd = bytes([0, 5, 0x12, 0x34, 0x50, 3, 0, 0, 7, 0x11, 0, 0, 7, 0x22, 0, 1])
    os2_pal = bytes(noise(256, 1, 3).reshape(-1))
    rgb = Image.fromarray(noise(h, w, 3))
    trunc = pil_bytes(rgb, "BMP")
    return [
        ("bmp_24.bmp", pil_bytes(rgb, "BMP"), None, "24-bit"),
        ("bmp_32_from_rgba.bmp", pil_bytes(Image.fromarray(noise(h, w, 4)), "BMP"), None, "PIL-written RGBA: BI_RGB 32-bit, read as BGRX"),
        ("bmp_8_palette.bmp", pil_bytes(rgb.quantize(16), "BMP"), None, "8-bit palette"),
        ("bmp_8_grey.bmp", pil_bytes(Image.fromarray(noise(h, w)), "BMP"), None, "8-bit grey ramp palette: mode L"),
        ("bmp_1bit.bmp", pil_bytes(Image.fromarray(noise(h, 11, hi=2).astype(bool)), "BMP"), None, "1-bit: mode 1"),
        ("bmp_16_555.bmp", make_bmp(w, h, 16, bottom_up(px16)), None, "16-bit BI_RGB (5-5-5): v * 255 / 31"),
        ("bmp_16_565.bmp", make_bmp(w, h, 16, bottom_up(px16), 3, masks=(0xF800, 0x7E0, 0x1F, 0)), None, "5-6-5 bit fields"),
        ("bmp_16_565_v4.bmp", make_bmp(w, h, 16, bottom_up(px16), 3, header_size=108, masks=(0xF800, 0x7E0, 0x1F, 0)), None,
         "5-6-5, masks in a V4 header"),
        ("bmp_32_bgra_v4.bmp", make_bmp(w, h, 32, bottom_up(px32), 3, header_size=108, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)),
         None, "32-bit with alpha mask: alpha dropped"),
        ("bmp_32_xbgr_v5.bmp", make_bmp(w, h, 32, bottom_up(px32), 3, header_size=124, masks=(0xFF000000, 0xFF0000, 0xFF00, 0)), None,
         "32-bit XBGR"),
        ("bmp_4bit.bmp", make_bmp(w, h, 4, bottom_up(nib), palette=pal16), None, "4-bit palette"),
        ("bmp_8_short_palette.bmp", make_bmp(w, h, 8, bottom_up([noise(1, w).tobytes() for _ in range(h)]), palette=pal16[:16]),
         None, "4 colours, indices to 255: grey ramp past the palette"),
        ("bmp_topdown.bmp", make_bmp(w, h, 24, bottom_up(px24[::-1]), top_down=True), None, "negative height: top-down"),
        ("bmp_os2.bmp", make_bmp(w, h, 8, bottom_up([noise(1, w).tobytes() for _ in range(h)]), palette=os2_pal, header_size=12),
         None, "OS/2 12-byte header, 3-byte palette entries"),
        ("bmp_rle8.bmp", make_bmp(8, 4, 8, rle8, 1, palette=pal16), None, "RLE8: runs, odd absolute run + pad, EOL, EOB"),
        ("bmp_rle8_delta.bmp", make_bmp(8, 4, 8, rle8_delta, 1, palette=pal16), None, "RLE8 delta: Pillow 9.4 reads 4 bytes"),
        ("bmp_rle8_grey.bmp", make_bmp(8, 4, 8, rle8, 1, palette=grey256), None, "RLE8 with a grey ramp palette: mode L"),
        ("bmp_rle4.bmp", make_bmp(7, 3, 4, rle4, 2, palette=pal16), None, "RLE4"),
        ("bmp_rle4_odd_run.bmp", make_bmp(7, 3, 4, rle4_odd, 2, palette=pal16), None, "RLE4 odd absolute run: Pillow 9.4 quirk"),
        ("bmp_rle8_short.bmp", make_bmp(8, 4, 8, bytes([3, 1, 0, 1]), 1, palette=pal16), "not enough image data",
         "RLE8 ends early: PIL refuses"),
        ("bmp_bad_bitfields.bmp", make_bmp(w, h, 16, bottom_up(px16), 3, masks=(0x3E0, 0x7C00, 0x1F, 0)), "bitfields",
         "unsupported masks"),
        ("bmp_truncated.bmp", trunc[:-30], "truncated", "pixel data cut"),
        ("bmp_bomb.bmp", make_bmp(100000, 100000, 24, b"\0" * 64), "decompression bomb", "header claims 100000 x 100000"),
    ]


def odd_pnm_and_others():
    p5c = b"P5\n# comment\n4 3\n1#x\n00\n" + bytes(noise(3, 4, hi=121))
    p6_1000 = b"P6 3 2 1000\n" + noise(2, 3, 3, hi=1100, dtype=np.uint16).astype(">u2").tobytes()
    rgb = Image.fromarray(noise(6, 5, 3))
    return [
        ("pnm_p6.ppm", pil_bytes(rgb, "PPM"), None, "P6"),
        ("pnm_p5.pgm", pil_bytes(rgb.convert("L"), "PPM"), None, "P5"),
        ("pnm_p4.pbm", pil_bytes(Image.fromarray(noise(5, 11, hi=2).astype(bool)), "PPM"), None, "P4"),
        ("pnm_p5_16bit.pgm", pil_bytes(Image.fromarray(noise(4, 5, hi=600, dtype=np.int32)), "PPM"), None, "P5 maxval 65535: clipped"),
        ("pnm_p5_maxval100.pgm", p5c, None, "maxval 100, a comment splitting a token"),
        ("pnm_p6_maxval1000.ppm", p6_1000, None, "16-bit samples, maxval 1000: rescaled and rounded"),
        ("pnm_p3_plain.ppm", b"P3\n2 1\n255\n1 2 3 4 5 6\n", "unsupported", "plain PPM: PIL reads it, we do not"),
        ("webp_lossless.webp", pil_bytes(rgb, "WEBP", lossless=True), "unsupported image format WEBP", "PIL reads it, we do not"),
        ("tiff.tif", pil_bytes(rgb, "TIFF"), "unsupported image format TIFF", "PIL reads it, we do not"),
        ("ico.ico", pil_bytes(Image.fromarray(noise(16, 16, 3)), "ICO"), "unsupported image format ICO", "PIL reads it, we do not"),
        ("empty.png", b"", "empty file", "zero bytes"),
        ("text.png", b"this is not an image\n", "cannot identify", "a text file named .png"),
    ]


# Files PIL cannot write, made once with another encoder and kept in the repository.
KEPT = [
    ("jpeg_ycck.jpg", None, "YCCK (Adobe transform 2), written by a 20-line C program with libjpeg-turbo's "
     "jpeg_set_colorspace(JCS_YCCK) from a CMYK buffer"),
]


# ---- PIL's verdicts ---------------------------------------------------------------------------
def pil_result(path):
    try:
        with Image.open(path) as im:
            mode = im.mode
            rgb = im.convert("RGB")
        return {"mode": mode, "size": list(rgb.size), "rgb_sha256": sha(rgb.tobytes())}
    except Exception as e:  # noqa: BLE001 - any failure is PIL's verdict
        return {"error": f"{type(e).__name__}: {e}"}


def image_entry(rel, ours_error, note):
    pil = pil_result(os.path.join(OUT, rel))
    entry = {"file": rel, "note": note, "pil": pil}
    if ours_error is None:
        assert "error" not in pil, f"{rel}: PIL fails ({pil['error']}) but we are told to match it"
        entry["expect"] = "match"
    else:
        entry["expect"] = "error"
        entry["error_contains"] = ours_error
    return entry


# ---- CLIP preprocessing of the photos (LLaVA-1.5: 336 px) -------------------------------------
def expand2square(pil_img, background_color):  # LLaVA llava/mm_utils.py, verbatim logic
    width, height = pil_img.size
    if width == height:
        return pil_img
    side = max(width, height)
    result = Image.new(pil_img.mode, (side, side), background_color)
    result.paste(pil_img, (0, (width - height) // 2) if width > height else ((height - width) // 2, 0))
    return result


def clip336(rgb, proc):
    from transformers.image_utils import ChannelDimension
    arr = np.array(rgb)
    resized = proc.resize(arr, size=proc.size, resample=proc.resample, input_data_format=ChannelDimension.LAST)
    cropped = proc.center_crop(resized, size=proc.crop_size, input_data_format=ChannelDimension.LAST)
    pv = proc(images=rgb, return_tensors="np")["pixel_values"][0]
    again = proc.normalize(proc.rescale(cropped, proc.rescale_factor), proc.image_mean, proc.image_std)
    assert pv.dtype == np.float32 and np.array_equal(pv, again.transpose(2, 0, 1)), "cropped uint8 does not give pixel_values"
    return {"resized_wh": [resized.shape[1], resized.shape[0]], "cropped_sha256": sha(np.ascontiguousarray(cropped).tobytes()),
            "pixel_values_shape": list(pv.shape), "pixel_values_sha256": sha(np.ascontiguousarray(pv).tobytes())}


def photo_entries(photos_dir):
    dst = os.path.join(OUT, "photos")
    os.makedirs(dst, exist_ok=True)
    if photos_dir and os.path.isdir(photos_dir):
        for name in os.listdir(photos_dir):
            if name.endswith(".jpg") or name == "LICENSE":
                shutil.copyfile(os.path.join(photos_dir, name), os.path.join(dst, name))
    proc = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    background = tuple(int(x * 255) for x in proc.image_mean)
    out = []
    for name in sorted(n for n in os.listdir(dst) if n.endswith(".jpg")):
        entry = image_entry(f"photos/{name}", None, "real photo")
        with Image.open(os.path.join(dst, name)) as im:
            rgb = im.convert("RGB")
        entry["clip336"] = clip336(rgb, proc)
        entry["clip336_pad_square"] = clip336(expand2square(rgb, background), proc)
        out.append(entry)
    return out


# ---- Pillow's resize on small random images ---------------------------------------------------
RESIZE_CASES = [  # (source, width, height, PIL filter)
    ("23x17", 11, 8, 3), ("23x17", 7, 5, 3), ("23x17", 5, 3, 3), ("23x17", 2, 1, 3), ("23x17", 1, 1, 3),
    ("23x17", 23, 1, 3), ("23x17", 1, 17, 3), ("23x17", 23, 17, 3), ("23x17", 12, 17, 3), ("23x17", 23, 40, 3),
    ("23x17", 46, 34, 3), ("23x17", 69, 51, 3), ("23x17", 50, 9, 3), ("23x17", 9, 50, 3), ("23x17", 100, 3, 3),
    ("23x17", 22, 16, 3), ("23x17", 24, 18, 3), ("1x1", 5, 3, 3), ("1x1", 1, 1, 3), ("1x9", 4, 4, 3), ("1x9", 1, 3, 3),
    ("23x17", 11, 8, 2), ("23x17", 46, 34, 2), ("23x17", 11, 8, 1), ("23x17", 46, 34, 1), ("23x17", 11, 8, 4),
    ("23x17", 46, 34, 4), ("23x17", 11, 8, 5), ("23x17", 46, 34, 5),
]


def resize_entries():
    sources = {}
    for tag in sorted({c[0] for c in RESIZE_CASES}):
        w, h = map(int, tag.split("x"))
        arr = noise(h, w, 3)
        rel = f"resize_src_{tag}.rgb"
        with open(os.path.join(OUT, rel), "wb") as f:
            f.write(arr.tobytes())
        sources[tag] = (rel, Image.fromarray(arr))
    out = []
    for tag, w, h, flt in RESIZE_CASES:
        rel, im = sources[tag]
        r = im.resize((w, h), resample=flt)
        out.append({"src": rel, "src_wh": list(im.size), "wh": [w, h], "filter": flt, "sha256": sha(r.tobytes())})
    return out


def transform_entries():
    """transformers' output-size rule and center crop (with its zero padding) on small cases."""
    from transformers.image_transforms import center_crop, get_resize_output_image_size
    from transformers.image_utils import ChannelDimension
    sizes = []
    for w, h, s in [(64, 40, 32), (40, 64, 32), (640, 480, 336), (480, 640, 336), (1000, 3, 336), (3, 1000, 336),
                    (1023, 767, 336), (333, 1000, 336), (7, 7, 5), (1, 2, 224), (2999, 2001, 224), (4, 1000, 1)]:
        arr = np.zeros((h, w, 3), np.uint8)
        oh, ow = get_resize_output_image_size(arr, s, default_to_square=False, input_data_format=ChannelDimension.LAST)
        sizes.append({"wh": [w, h], "shortest_edge": s, "out_wh": [ow, oh]})
    crops = []
    for w, h, cw, ch in [(10, 8, 4, 4), (11, 9, 4, 5), (10, 10, 15, 15), (9, 6, 12, 7), (5, 7, 5, 12), (8, 8, 8, 8), (4, 6, 7, 3)]:
        arr = noise(h, w, 3)
        out = center_crop(arr, (ch, cw), input_data_format=ChannelDimension.LAST)
        crops.append({"wh": [w, h], "crop_wh": [cw, ch], "input_sha256": sha(arr.tobytes()), "input": arr.reshape(-1).tolist(),
                      "out_wh": [out.shape[1], out.shape[0]], "out_sha256": sha(np.ascontiguousarray(out).tobytes())})
    return {"output_size": sizes, "center_crop": crops}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default=os.path.join(os.path.dirname(ROOT), "shared", "datasets", "photos"))
    args = ap.parse_args()
    assert PIL.__version__ == "9.4.0" and transformers.__version__ == "4.40.2", "run with /opt/refpy/bin/python"
    os.makedirs(os.path.join(OUT, "odd"), exist_ok=True)
    images = []
    for name, data, ours_error, note in odd_png() + odd_jpeg() + odd_gif() + odd_bmp() + odd_pnm_and_others():
        with open(os.path.join(OUT, "odd", name), "wb") as f:
            f.write(data)
        images.append(image_entry(f"odd/{name}", ours_error, note))
    for name, ours_error, note in KEPT:
        assert os.path.exists(os.path.join(OUT, "odd", name)), f"odd/{name} is kept in the repository, not generated"
        images.append(image_entry(f"odd/{name}", ours_error, note))
    manifest = {
        "generated_by": "scripts/reference/make_image_refs.py",
        "versions": {"pillow": PIL.__version__, "libjpeg": Image.core.jpeglib_version, "numpy": np.__version__,
                     "transformers": transformers.__version__},
        "images": images + photo_entries(args.photos),
        "resize": resize_entries(),
        "transforms": transform_entries(),
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(manifest['images'])} images, {len(manifest['resize'])} resize cases to {OUT}")


if __name__ == "__main__":
    main()
