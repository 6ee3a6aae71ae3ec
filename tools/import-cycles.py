#!/usr/bin/env python3
"""Import cycles between the files of src/: exits 1 and names each cycle, if there is one.

A file depends on another when a path in its code names it: a `use` (groups, globs and `as`
included) or a `crate::`, `super::` or `self::` path in an expression, resolved from the inline
module it sits in. Comments, string literals and unit-test modules are left out. `mod x;` is not a
dependency: a parent may re-export its children, so long as none of them names the parent back.
"""

import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def modules():
    """Module path (a tuple; the crate root is `()`) → file."""
    found = {}
    for root, _, names in os.walk(SRC):
        for name in names:
            if name.endswith(".rs") and name != "tests.rs":
                path = os.path.join(root, name)
                parts = os.path.relpath(path, SRC)[:-3].split(os.sep)
                if parts == ["lib"] or parts[-1] == "mod":
                    parts = parts[:-1]
                found[tuple(parts)] = path
    return found


def resolve(files, module, segments):
    """The file a path written in `module` (maybe an inline one) lands in; None outside the
    crate."""
    first, rest = segments[0], list(segments[1:])
    if first == "crate":
        base = []
    elif first == "self":
        base = list(module)
    elif first == "super":
        base = list(module[:-1])
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif module + (first,) in files or any(k[: len(module) + 1] == module + (first,) for k in files):
        base, rest = list(module), list(segments)
    else:
        return None  # std, a dependency, or a name in scope
    # The longest prefix that is a file, walking down from the deepest file above `base`.
    while tuple(base) not in files:
        base.pop()
    best = tuple(base)
    for s in rest:
        base.append(s)
        if tuple(base) in files:
            best = tuple(base)
    return best


def code_of(path):
    """The file's code: no comments, no string contents, no unit-test module."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r'r(#*)".*?"\1', '""', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text, flags=re.S)
    text = re.sub(r"'(?:\\.|[^'\\])'", "' '", text)
    text = re.sub(r"//[^\n]*", "", text)
    # `#[cfg(test)] mod tests { … }` runs to the end of the file here, as rustfmt keeps it.
    return re.split(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)[0]


def paths(code):
    """(inline module names, path segments) for every path the code names."""
    stack, depth, found = [], 0, []
    tokens = re.finditer(r"\bmod\s+(\w+)\s*\{|[{}]|\buse\s+([^;]+);|\b((?:crate|super|self)(?:::\w+)+)", code)
    for m in tokens:
        if m.group(1):
            stack.append((m.group(1), depth))
            depth += 1
        elif m.group(0) == "{":
            depth += 1
        elif m.group(0) == "}":
            depth -= 1
            if stack and stack[-1][1] == depth:
                stack.pop()
        elif m.group(2):
            inner = tuple(name for name, _ in stack)
            for p in expand(m.group(2)):
                found.append((inner, p))
        else:
            found.append((tuple(name for name, _ in stack), m.group(3).split("::")))
    return found


def expand(tree):
    """Every path a use tree names: `a::{self, b, c::{d as e}, *}` → [a], [a, b], [a, c, d]."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", re.sub(r"^\s*pub(\([^)]*\))?\s", "", tree))
    if "{" not in tree:
        return [[s for s in tree.split("::") if s not in ("", "*", "self")] or ["self"]]
    prefix, body = tree.split("{", 1)
    body = body[: body.rindex("}")]
    parts, level, current = [], 0, ""
    for ch in body + ",":
        if ch == "," and level == 0:
            parts.append(current)
            current = ""
            continue
        level += (ch == "{") - (ch == "}")
        current += ch
    prefix = [s for s in prefix.split("::") if s]
    out = []
    for part in filter(None, parts):
        # `self` in a group names the prefix itself; `*` names what is in it.
        out += [prefix + (p if p != ["self"] else []) for p in expand(part)]
    return [p for p in out if p]


def main():
    files = modules()
    edges = {}
    for module, path in files.items():
        deps = set()
        for inner, segments in paths(code_of(path)):
            if segments:
                target = resolve(files, module + inner, segments)
                if target is not None:
                    deps.add(target)
        deps.discard(module)
        edges[module] = deps
    found = cycles(edges)
    name = lambda m: os.path.relpath(files[m], SRC)
    for component in found:
        print("import cycle:", ", ".join(sorted(map(name, component))))
    print(f"{len(files)} files, {sum(map(len, edges.values()))} dependencies, {len(found)} cycles")
    return 1 if found else 0


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


if __name__ == "__main__":
    sys.exit(main())
