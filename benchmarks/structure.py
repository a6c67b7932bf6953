"""The shape of the package, counted: modules over 400 lines, functions over 60 (with and without
their docstring), import circles (every import, function-level ones included, since they are circles
too, only hidden), the imports inside them, the places outside predictor.py that read a predictor's private members (`p._x`,
`predictor._x`), and the README's length.

    python benchmarks/structure.py            # this tree
    python benchmarks/structure.py --root /tmp/old   # a worktree of an older commit

Prints one JSON record and appends it to benchmarks/results/structure.jsonl, naming the commit.
"""
from __future__ import annotations

import argparse
import ast
import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREDICTOR_NAMES = {"p", "predictor", "student", "pred"}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(name: str, is_package: bool, tree: ast.AST, known: set[str]) -> set[str]:
    """The package modules `name` imports anywhere in its body; `from . import x` names submodule x
    when x is one, and a package's face otherwise."""
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1] if node.level > 1 else here
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in known:
                    out.add(sub)
                elif target in known:
                    out.add(target)
    out.discard(name)
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def private_reads(tree: ast.AST) -> set[str]:
    return {f"{n.value.id}.{n.attr}" for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")
            and isinstance(n.value, ast.Name) and n.value.id in PREDICTOR_NAMES}


def measure(root: Path) -> dict:
    pkg = root / "automm"
    files = sorted(pkg.rglob("*.py"))
    known = {module_name(root, f) for f in files}
    graph, long_modules, long_functions, long_code, reads = {}, {}, {}, {}, {}
    for f in files:
        text = f.read_text()
        tree = ast.parse(text)
        name, rel = module_name(root, f), str(f.relative_to(root))
        graph[name] = imports_of(name, f.name == "__init__.py", tree, known)
        if text.count("\n") > 400:
            long_modules[rel] = text.count("\n")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                doc = node.body[0] if node.body and isinstance(node.body[0], ast.Expr) and \
                    isinstance(getattr(node.body[0], "value", None), ast.Constant) and \
                    isinstance(node.body[0].value.value, str) else None
                code = length - (doc.end_lineno - doc.lineno + 1 if doc is not None else 0)
                if length > 60:
                    long_functions[f"{rel}:{node.name}"] = length
                if code > 60:
                    long_code[f"{rel}:{node.name}"] = code
        if f.name != "predictor.py" and private_reads(tree):
            reads[rel] = sorted(private_reads(tree))
    knots = circles(graph)
    inside = sorted(f"{a} -> {b}" for knot in knots for a in knot for b in graph[a] if b in knot)
    readme = root / "README.md"
    return {"modules_over_400_lines": long_modules, "functions_over_60_lines": long_functions,
            "functions_over_60_lines_without_docstring": long_code,
            "import_circles": knots, "imports_inside_circles": inside,
            "private_predictor_reads": reads, "readme_lines": readme.read_text().count("\n")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(HERE.parent))
    ap.add_argument("--no-record", action="store_true")
    a = ap.parse_args()
    root = Path(a.root).resolve()
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    record = {"commit": commit, **measure(root)}
    counts = {k: len(v) for k, v in record.items() if isinstance(v, (dict, list))}
    record["counts"] = counts
    print(json.dumps(record, indent=1))
    if not a.no_record:
        with open(HERE / "results" / "structure.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
