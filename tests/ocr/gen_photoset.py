#!/usr/bin/env python3
"""gen_photoset.py - renders the photographed-document OCR test set: pages of known
text as a phone photographs them.

Usage: tests/ocr/gen_photoset.py [OUT_DIR]     (default: tests/ocr/photo)

Each page (English, simplified Chinese, or mixed; a paragraph document, a notice or a
receipt) is rendered on white paper with real fonts, laid on a darker desk and then
given one kind of trouble:
  tilt      rotated 4-10 degrees            persp   a perspective-warped page quadrilateral
  light     a desk-lamp gradient (dark corner, bright spot)
  rot90 / rot180 / rot270                   turned sideways or upside down
  blur      slightly out of focus           jpeg    strong JPEG compression
  combo     tilt + uneven light + blur + JPEG
and bench_photo_1024x768.jpg, a dense page tilted 7 degrees under the lamp (the latency page).
Writes OUT_DIR/<name>.jpg|.png, OUT_DIR/<name>.gt.txt and OUT_DIR/manifest.tsv for
`qvl ocr --eval OUT_DIR` (CER per category = kind of trouble, and per tag = language).
Needs ImageMagick's convert and fonts-noto-cjk + fonts-dejavu-core. Everything comes from
fixed seeds: the same ImageMagick gives the same files.
"""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gen_testset import EN_ITEMS, EN_SENT, MIXED_SENT, ZH_ITEMS, ZH_SENT, TestSet, dense_lines, label  # noqa: E402

KINDS = ["tilt", "persp", "light", "rot90", "rot180", "rot270", "blur", "jpeg", "combo"]
LANGS = {"en": ("eng", EN_SENT, "DejaVu-Sans"), "zh": ("chi_sim", ZH_SENT, "Noto-Sans-CJK-SC"),
         "mixed": ("chi_sim+eng", MIXED_SENT, "Noto-Sans-CJK-SC")}
W, H = 1024, 768


def page_lines(rng, lang, layout):
    if layout == "receipt":
        items = rng.sample(EN_ITEMS if lang == "en" else ZH_ITEMS, 4)
        lines = ["GREEN LEAF CAFE" if lang == "en" else "绿叶咖啡馆"]
        total = 0.0
        for it in items:
            price = rng.randint(300, 4500) / 100
            total += price
            lines.append("%s %.2f" % (it, price))
        lines.append(("TOTAL %.2f" if lang == "en" else "合计 %.2f") % total)
        return lines
    return rng.sample(LANGS[lang][1], 6 if layout == "doc" else 4)


def trouble(kind, rng, seed):
    """ImageMagick arguments applied to the photo (page on the desk)."""
    tilt = ["-background", "#5a5048", "-rotate", "%.1f" % (rng.choice([-1, 1]) * rng.uniform(4, 10)),
            "-gravity", "center", "-extent", "%dx%d" % (W, H)]
    light = ["(", "-size", "%dx%d" % (W, H), "radial-gradient:#ffffff-#404040", "-distort", "SRT",
             "%d,%d 1.3 0 %d,%d" % (W // 2, H // 2, rng.randint(200, 400), rng.randint(150, 300)), ")",
             "-compose", "Multiply", "-composite"]
    if kind == "tilt":
        return tilt
    if kind == "persp":
        d = [rng.randint(20, 70) for _ in range(4)]
        return ["-virtual-pixel", "background", "-background", "#5a5048", "-distort", "Perspective",
                "0,0 %d,%d  %d,0 %d,%d  0,%d %d,%d  %d,%d %d,%d" % (
                    d[0], d[1], W, W - d[2], d[0] // 2, H, d[3] // 2, H - d[3], W, H, W - d[1] // 2, H - d[2] // 3)]
    if kind == "light":
        return light
    if kind.startswith("rot"):
        return ["-rotate", kind[3:]]
    if kind == "blur":
        return ["-blur", "0x%.1f" % rng.choice([0.8, 1.0, 1.2])]
    if kind == "jpeg":
        return []
    return tilt + light + ["-blur", "0x0.7"]


def main():
    out = TestSet("photo", "gen_photoset.py")
    seed = 5000
    for kind in KINDS:
        for lang in LANGS:
            seed += 1
            rng = random.Random(seed)
            layout = rng.choice(["doc", "notice", "receipt"])
            tess, _, font = LANGS[lang]
            lines = page_lines(rng, lang, layout)
            size = rng.choice([20, 22, 24]) if layout == "doc" else rng.choice([24, 28])
            text = label("\n".join(lines), font, size, "#1c1c1c", "#fbfbf6", ["-interline-spacing", str(size // 2)])
            ext = "jpg" if kind in ("jpeg", "combo") else "png"
            file = "%s_%s.%s" % (kind, lang, ext)
            cmd = ["convert", "-background", "#fbfbf6", *text, "-bordercolor", "#fbfbf6", "-border", "40x50",
                   "-resize", "%dx%d" % (W - 160, H - 140),
                   "(", "-size", "%dx%d" % (W, H), "xc:#5a5048", ")", "+swap", "-gravity", "center",
                   "-compose", "Over", "-composite", "+gravity", *trouble(kind, rng, seed),
                   "-colorspace", "sRGB", "-type", "TrueColor"]
            cmd += ["-quality", str(rng.choice([30, 40]))] if ext == "jpg" else ["-define", "png:exclude-chunks=date,time"]
            subprocess.run(cmd + [out.path(file)], check=True)
            out.add(file, lines, kind, tess, "%s,%s" % (lang, layout))
    # The latency page: a dense English page (16 long lines) photographed on
    # the desk, tilted 7 degrees, under the lamp, as a JPEG.
    rng = random.Random(77)
    lines = dense_lines(rng)
    subprocess.run(["convert", "-size", "%dx%d" % (W - 80, H - 110), "xc:#fbfbf6", "-font", "DejaVu-Serif",
                    "-pointsize", "15", "-fill", "#1c1c1c", "-interline-spacing", "11", "-annotate", "+24+36",
                    "\n".join(lines), "(", "-size", "%dx%d" % (W, H), "xc:#5a5048", ")", "+swap", "-gravity",
                    "center", "-compose", "Over", "-composite", "+gravity", "-background", "#5a5048", "-rotate", "7",
                    "-gravity", "center", "-extent", "%dx%d" % (W, H), *trouble("light", rng, 0), "-colorspace",
                    "sRGB", "-type", "TrueColor", "-quality", "85", out.path("bench_photo_1024x768.jpg")],
                   check=True)
    out.add("bench_photo_1024x768.jpg", lines, "bench", "eng", "en,doc")
    out.finish()


if __name__ == "__main__":
    main()
