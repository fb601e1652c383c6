#!/usr/bin/python3
"""gen_pdfset.py - renders the PDF test set: born-digital documents (real text layers in
DejaVu and Noto CJK fonts) and scanned ones (pages that are only pictures).

Usage: tests/ocr/gen_pdfset.py [OUT_DIR]     (default: tests/ocr/pdf)

Writes OUT_DIR/<name>.pdf with OUT_DIR/<name>.p<N>.gt.txt for each page N, scored by
tests/ocr/pdf_accuracy.py. Born-digital: English, Chinese and mixed documents of two A4
pages each. Scanned: pages of the rendered and photographed OCR sets (tests/ocr/set,
tests/ocr/photo) placed as 150 dpi images, one picture per page, no text layer.
Needs Debian's python3-cairo (run with /usr/bin/python3) and the fonts of gen_testset.py.
"""
import os
import random
import shutil
import sys

import cairo

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_testset import EN_SENT, ZH_SENT, MIXED_SENT  # noqa: E402

FONTS = {"en": "DejaVu Sans", "zh": "Noto Sans CJK SC", "mixed": "Noto Sans CJK SC"}
POOLS = {"en": EN_SENT, "zh": ZH_SENT, "mixed": MIXED_SENT}
A4 = (595, 842)


def stamped(surf):
    """A fixed creation date: the same cairo writes the same bytes."""
    surf.set_metadata(cairo.PDF_METADATA_CREATE_DATE, "2026-01-01T00:00:00Z")
    return surf


def born_digital(out_dir, lang, rng):
    name = "born_%s" % lang
    surf = stamped(cairo.PDFSurface(os.path.join(out_dir, name + ".pdf"), *A4))
    ctx = cairo.Context(surf)
    for page in (1, 2):
        lines = rng.sample(POOLS[lang], 6)
        ctx.select_font_face(FONTS[lang])
        ctx.set_font_size(14)
        for i, line in enumerate(lines):
            ctx.move_to(72, 100 + 26 * i)
            ctx.show_text(line)
        ctx.show_page()
        with open(os.path.join(out_dir, "%s.p%d.gt.txt" % (name, page)), "w", encoding="utf-8") as g:
            g.write("\n".join(lines) + "\n")
    surf.finish()


def scanned(out_dir, name, pages):
    """pages: [(png path, ground truth path)], each placed at 150 dpi."""
    surf = None
    for n, (png, gt) in enumerate(pages, 1):
        img = cairo.ImageSurface.create_from_png(png)
        w, h = img.get_width() * 72 / 150, img.get_height() * 72 / 150
        if surf is None:
            surf = stamped(cairo.PDFSurface(os.path.join(out_dir, name + ".pdf"), w, h))
        else:
            surf.set_size(w, h)
        ctx = cairo.Context(surf)
        ctx.scale(72 / 150, 72 / 150)
        ctx.set_source_surface(img, 0, 0)
        ctx.paint()
        surf.show_page()
        shutil.copyfile(gt, os.path.join(out_dir, "%s.p%d.gt.txt" % (name, n)))
    surf.finish()


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "pdf")
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(4242)
    for lang in ("en", "zh", "mixed"):
        born_digital(out_dir, lang, rng)
    src = lambda d, n: (os.path.join(HERE, d, n + ".png"), os.path.join(HERE, d, n + ".gt.txt"))
    scanned(out_dir, "scan_en", [src("set", "doc_en_01_clean"), src("photo", "rot180_en"), src("set", "receipt_en_01_clean")])
    scanned(out_dir, "scan_zh", [src("set", "doc_zh_01_clean"), src("photo", "tilt_zh"), src("set", "table_zh_01_clean")])
    scanned(out_dir, "scan_mixed", [src("set", "doc_mixed_01_clean"), src("photo", "light_mixed")])
    print("wrote the PDF set to %s" % out_dir)


if __name__ == "__main__":
    main()
