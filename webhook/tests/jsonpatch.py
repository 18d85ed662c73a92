#!/usr/bin/env python3
"""Apply an RFC 6902 JSON Patch to a JSON document, independently of the C
applier in lib/inject, so the webhook's patches are checked by a second
implementation. Usage: jsonpatch.py DOC.json PATCH.json > RESULT.json
Exits 1 with the failing operation on stderr when the patch does not apply."""
import copy
import json
import sys


def tokens(pointer):
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"bad pointer {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def index(container, token, allow_end):
    if allow_end and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise ValueError(f"bad array index {token!r}")
    i = int(token)
    if i > len(container) or (not allow_end and i == len(container)):
        raise ValueError(f"index {i} out of range")
    return i


def walk(doc, toks):
    cur = doc
    for t in toks:
        if isinstance(cur, list):
            cur = cur[index(cur, t, False)]
        elif isinstance(cur, dict):
            cur = cur[t]
        else:
            raise ValueError(f"cannot descend into {type(cur).__name__} at {t!r}")
    return cur


def add(doc, path, value):
    toks = tokens(path)
    if not toks:
        return value
    parent = walk(doc, toks[:-1])
    last = toks[-1]
    if isinstance(parent, list):
        parent.insert(index(parent, last, True), value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ValueError(f"parent of {path} is not a container")
    return doc


def remove(doc, path):
    toks = tokens(path)
    parent = walk(doc, toks[:-1])
    last = toks[-1]
    if isinstance(parent, list):
        return parent.pop(index(parent, last, False))
    return parent.pop(last)


def apply(doc, patch):
    doc = copy.deepcopy(doc)
    for n, op in enumerate(patch):
        try:
            kind, path = op["op"], op["path"]
            if kind == "add":
                doc = add(doc, path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(doc, path)
            elif kind == "replace":
                walk(doc, tokens(path))  # must exist
                if tokens(path):
                    remove(doc, path)
                doc = add(doc, path, copy.deepcopy(op["value"]))
            elif kind == "move":
                doc = add(doc, path, remove(doc, op["from"]))
            elif kind == "copy":
                doc = add(doc, path, copy.deepcopy(walk(doc, tokens(op["from"]))))
            elif kind == "test":
                if walk(doc, tokens(path)) != op["value"]:
                    raise ValueError("test failed")
            else:
                raise ValueError(f"unknown op {kind!r}")
        except (KeyError, IndexError, ValueError) as e:
            sys.exit(f"operation {n} {json.dumps(op)[:200]}: {e}")
    return doc


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        document = json.load(f)
    with open(sys.argv[2]) as f:
        operations = json.load(f)
    json.dump(apply(document, operations), sys.stdout, indent=1)
    sys.stdout.write("\n")
