#!/usr/bin/env python3
"""pdf_accuracy.py - CER of `qvl ocr` on the PDF test set (tests/ocr/gen_pdfset.py):
born-digital pages (read from their text layer: should be exact) and scanned pages
(rendered and read by OCR), per page and per kind.

Usage: tests/ocr/pdf_accuracy.py [--json] [DIR]     (QVL_BIN overrides ./qvl)
The CER normalisation is qvl's (ocr_text.h): NFKC, white space runs as one space, no
spaces next to CJK characters, case kept. Exits 1 when a PDF could not be read.
"""
import json
import os
import re
import subprocess
import sys
import unicodedata

LANG = {"en": "eng", "zh": "chi_sim", "mixed": "chi_sim+eng"}
CJK = r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]"


def norm(s):
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s)).strip()
    return re.sub(r" (?=%s)|(?<=%s) " % (CJK, CJK), "", s)


def distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def main():
    args = [a for a in sys.argv[1:] if a != "--json"]
    as_json = "--json" in sys.argv
    d = args[0] if args else os.path.join(os.path.dirname(__file__), "pdf")
    qvl = os.environ.get("QVL_BIN", "./qvl")
    kinds, pages, failed = {}, [], 0
    for pdf in sorted(f for f in os.listdir(d) if f.endswith(".pdf")):
        name = pdf[:-4]
        kind, lang = name.split("_", 1)
        r = subprocess.run([qvl, "ocr", "--image", os.path.join(d, pdf), "--lang", LANG[lang], "--json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("%s: %s" % (pdf, r.stderr.strip()), file=sys.stderr)
            failed += 1
            continue
        for p in json.loads(r.stdout)["pages"]:
            with open(os.path.join(d, "%s.p%d.gt.txt" % (name, p["page"])), encoding="utf-8") as g:
                ref = norm(g.read())
            edits = distance(ref, norm(p["text"]))
            k = kinds.setdefault(kind, [0, 0])
            k[0] += edits
            k[1] += len(ref)
            pages.append({"pdf": pdf, "page": p["page"], "cer": edits / max(len(ref), 1), "ms": p["ms"]})
    worst = max(pages, key=lambda p: p["cer"]) if pages else None
    summary = {k: round(v[0] / max(v[1], 1), 4) for k, v in kinds.items()}
    if as_json:
        print(json.dumps({"cer": summary, "worst": worst, "pages": len(pages), "failed": failed}))
    else:
        for p in pages:
            print("%-18s page %d  CER %.3f  %6.0f ms" % (p["pdf"], p["page"], p["cer"], p["ms"]))
        print("CER by kind: %s; worst page %s" % (summary, worst))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
