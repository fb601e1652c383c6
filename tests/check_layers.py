#!/usr/bin/env python3
"""Checks that qvl's source tree keeps its layering (run by `make test`).

Two rules, both of which a change can break without any other test noticing:

1. Includes point down. Every folder of src/ has a rank (LAYERS below); a
   file may include headers of its own folder or of a folder of lower rank.
   Folders of equal rank (format and image, ocr and batch) are independent of
   each other.
2. No circles between files. From the compiled objects (nm), file A depends
   on file B when A uses a symbol B defines; the dependency graph must have no
   cycle, inside a folder or across folders. A circle means neither file can
   be understood or tested without the other.

Usage: tests/check_layers.py BUILD_DIR   (the objects of `make BUILD=...`)
Exits 1 and prints every violation.
"""
import os
import re
import subprocess
import sys

LAYERS = {
    "base": 0,
    "engine": 1,
    "format": 2, "image": 2,
    "tokenizer": 3,
    "model": 4, "grammar": 4,
    "load": 5,
    "generate": 6,
    "ocr": 7, "batch": 7,
    "answer": 8,
    "service": 9,
    "server": 10,
    "cli": 11,
}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def source_files():
    for folder in sorted(os.listdir(os.path.join(ROOT, "src"))):
        path = os.path.join(ROOT, "src", folder)
        for name in sorted(os.listdir(path)):
            if name.endswith((".c", ".h")):
                yield folder, os.path.join("src", folder, name)


def check_includes():
    errors = []
    for folder, rel in source_files():
        if folder not in LAYERS:
            errors.append(f"{rel}: folder src/{folder} has no rank in tests/check_layers.py")
            continue
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            if "/" not in inc:
                errors.append(f"{rel}: #include \"{inc}\" must name its folder (\"{folder}/{inc}\")")
                continue
            target = inc.split("/")[0]
            if target == folder:
                continue
            if target not in LAYERS:
                errors.append(f"{rel}: includes {inc} from unranked folder {target}")
            elif LAYERS[target] >= LAYERS[folder]:
                errors.append(f"{rel}: includes {inc}, but {target} (rank {LAYERS[target]}) is not "
                              f"below {folder} (rank {LAYERS[folder]})")
    return errors


def symbol_graph(build):
    """object path (as src/folder/file.c) -> set of objects it uses symbols of."""
    objects = []
    for folder, rel in source_files():
        if rel.endswith(".c"):
            obj = os.path.join(build, rel[:-2] + ".o")
            if not os.path.exists(obj):
                sys.exit(f"check_layers: {obj} missing; build first (make BUILD={build})")
            objects.append((rel, obj))
    defined, undefined = {}, {}
    for rel, obj in objects:
        out = subprocess.run(["nm", "--defined-only", "-g", obj], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3:
                defined.setdefault(parts[2], rel)
        out = subprocess.run(["nm", "-u", obj], capture_output=True, text=True, check=True).stdout
        undefined[rel] = {line.split()[-1] for line in out.splitlines() if line.strip()}
    graph = {}
    for rel, syms in undefined.items():
        graph[rel] = {defined[s] for s in syms if s in defined and defined[s] != rel}
    return graph


def cycles(graph):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_calls(build):
    graph = symbol_graph(build)
    errors = []
    for comp in cycles(graph):
        edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
        errors.append("circle between files: " + ", ".join(edges))
    for a, deps in sorted(graph.items()):
        fa = a.split("/")[1]
        for b in sorted(deps):
            fb = b.split("/")[1]
            if fa != fb and LAYERS.get(fb, 99) >= LAYERS.get(fa, -1):
                errors.append(f"{a} calls into {b}: {fb} is not below {fa}")
    return errors, graph


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    errors = check_includes()
    call_errors, graph = check_calls(sys.argv[1])
    errors += call_errors
    for e in errors:
        print(e)
    n_edges = sum(len(v) for v in graph.values())
    print(f"check_layers: {len(graph)} files, {n_edges} file dependencies, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
