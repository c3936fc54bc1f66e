"""The shape of a source tree: modules at the package root, the largest module and the
longest functions (for the architecture issue's before/after table).

    python benchmarks/code_shape.py [SRC_DIR ...]      # default: src
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def shape(src: Path) -> dict:
    pkg = src / "moseq2_extract"
    files = sorted(pkg.rglob("*.py"))
    root = [p.name for p in sorted(pkg.glob("*.py"))]
    sizes = sorted(((len(p.read_text().splitlines()), p.relative_to(pkg)) for p in files),
                   reverse=True)
    funcs = []
    for p in files:
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                funcs.append((node.end_lineno - node.lineno + 1,
                              f"{p.relative_to(pkg)}:{node.name}"))
    funcs.sort(reverse=True)
    return {"modules": len(files), "root": root, "largest": sizes[:3], "longest": funcs[:3],
            "lines": sum(n for n, _ in sizes)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", nargs="*", default=["src"])
    for src in ap.parse_args().src:
        s = shape(Path(src))
        print(f"## {src}")
        print(f"modules {s['modules']}, lines {s['lines']}, root modules {len(s['root'])}: "
              f"{' '.join(s['root'])}")
        print("largest modules: " + ", ".join(f"{p} ({n})" for n, p in s["largest"]))
        print("longest functions: " + ", ".join(f"{f} ({n})" for n, f in s["longest"]))


if __name__ == "__main__":
    main()
