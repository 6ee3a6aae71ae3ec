#!/usr/bin/env python3
"""Import cycles between the files of src/: exits 1 and names each cycle, if there is one.

A file depends on another when a top-level `use` names it, or a `crate::` path anywhere in its
code does (comments and unit tests left out). `mod x;` is not a dependency: a parent may
re-export its children, so long as none of them names the parent back.
"""

import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def modules():
    """Module path (a tuple) → file."""
    found = {}
    for root, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs") and name != "tests.rs":
                path = os.path.join(root, name)
                parts = os.path.relpath(path, SRC)[:-3].split(os.sep)
                if parts[-1] in ("mod", "lib"):
                    parts = parts[:-1]
                found[tuple(parts)] = path
    return found


def resolve(files, module, segments):
    """The file a path from `module` lands in, or None for one outside the crate."""
    first, rest = segments[0], segments[1:]
    if first == "crate":
        base = []
    elif first in ("super", "self"):
        base = list(module[:-1]) if first == "super" else list(module)
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif module + (first,) in files:
        base, rest = list(module), segments
    else:
        return None
    best = tuple(base) if tuple(base) in files else None
    for s in rest:
        base.append(s)
        if tuple(base) not in files:
            break
        best = tuple(base)
    return best


def dependencies(files, module, path):
    text = open(path, encoding="utf-8").read().split("\n#[cfg(test)]")[0]
    code = [line for line in text.split("\n") if not line.lstrip().startswith("//")]
    deps = set()
    statement = "\n".join(line for line in code if re.match(r"(pub(\([a-z]+\))? )?use ", line))
    for m in re.finditer(r"use\s+([\w:]+?)(?:::\{([^;]*)\})?;", statement, re.S):
        base = m.group(1).split("::")
        items = [i.strip() for i in m.group(2).split(",")] if m.group(2) else [""]
        for item in filter(None, items) if m.group(2) else items:
            sub = re.split(r"[\s:{]", item)[0] if item else None
            target = resolve(files, module, base + ([sub] if sub else []))
            if target:
                deps.add(target)
    for m in re.finditer(r"\bcrate(?:::\w+)+", "\n".join(code)):
        target = resolve(files, module, m.group(0).split("::"))
        if target:
            deps.add(target)
    deps.discard(module)
    return deps


def cycles(edges):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in edges:
        if v not in index:
            visit(v)
    return found


def main():
    files = modules()
    edges = {m: dependencies(files, m, p) for m, p in files.items()}
    found = cycles(edges)
    for component in found:
        print("import cycle:", ", ".join(os.path.relpath(files[m], SRC) for m in sorted(component)))
    print(f"{len(files)} files, {sum(map(len, edges.values()))} dependencies, {len(found)} cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
