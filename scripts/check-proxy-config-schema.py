#!/usr/bin/env python3
"""Checks docs/proxy-config.schema.json against the documents that define the contract.

  - the schema itself is a valid JSON Schema (draft 2020-12);
  - every docs/examples/*.json and lib/tests/proxy-config/valid/*.json passes it,
    and each example's metadata.revision is the digest of its canonical form;
  - every lib/tests/proxy-config/invalid/*.json is refused by it, except the
    "semantic-*" files: those are well-formed and only the loader's cross checks
    (references, order, uniqueness, weight sums, regex syntax) refuse them, so
    they must pass the schema, which keeps the schema from being stricter than
    the document it describes.

Usage: check-proxy-config-schema.py [REPO_ROOT]   (default: this script's parent folder)
Exit status 0 when every check passed. Needs the jsonschema module (python3-jsonschema).
"""
import glob
import hashlib
import json
import os
import sys

try:
    from jsonschema import Draft202012Validator
except ImportError:
    sys.stderr.write("check-proxy-config-schema: the python3 jsonschema module is missing "
                     "(Debian: apt-get install python3-jsonschema)\n")
    sys.exit(2)


def canonical_revision(doc):
    """sha256 over the document without metadata.revision and metadata.generatedAt,
    serialized with sorted keys and no insignificant whitespace (docs/proxy-config.md)."""
    d = json.loads(json.dumps(doc))
    md = d.get("metadata", {})
    md.pop("revision", None)
    md.pop("generatedAt", None)
    text = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def first_error(validator, doc):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    e = errors[0]
    where = "/".join(str(p) for p in e.absolute_path) or "(root)"
    return f"{where}: {e.message[:200]}"


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        # the loader refuses duplicate keys too: two values for one field
        raise ValueError(f"duplicate key {dup!r}")
    return dict(pairs)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=no_duplicates)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    schema_path = os.path.join(root, "docs", "proxy-config.schema.json")
    passed = failed = 0

    def report(ok, what, why=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"PASS {what}")
        else:
            failed += 1
            print(f"FAIL {what}: {why}")

    schema = load(schema_path)
    try:
        Draft202012Validator.check_schema(schema)
        report(True, "schema is a valid draft 2020-12 schema")
    except Exception as e:  # noqa: BLE001 - any failure here is a failed check
        report(False, "schema is a valid draft 2020-12 schema", str(e)[:300])
        print(f"{passed} passed, {failed} failed")
        return 1
    validator = Draft202012Validator(schema)

    examples = sorted(glob.glob(os.path.join(root, "docs", "examples", "*.json")))
    if not examples:
        report(False, "docs/examples", "no example found")
    for path in examples:
        name = os.path.relpath(path, root)
        doc = load(path)
        err = first_error(validator, doc)
        report(err is None, f"{name} passes the schema", err)
        want = canonical_revision(doc)
        got = doc.get("metadata", {}).get("revision")
        report(got == want, f"{name} revision matches its content", f"got {got}, want {want}")

    for path in sorted(glob.glob(os.path.join(root, "lib", "tests", "proxy-config", "valid", "*.json"))):
        name = os.path.relpath(path, root)
        err = first_error(validator, load(path))
        report(err is None, f"{name} passes the schema", err)

    invalid = sorted(glob.glob(os.path.join(root, "lib", "tests", "proxy-config", "invalid", "*.json")))
    if not invalid:
        report(False, "lib/tests/proxy-config/invalid", "no document found")
    for path in invalid:
        name = os.path.relpath(path, root)
        semantic = os.path.basename(path).startswith("semantic-")
        try:
            doc = load(path)
        except ValueError as e:
            report(not semantic, f"{name} is refused (not JSON)",
                   f"a semantic-* file must be well-formed JSON: {e}")
            continue
        err = first_error(validator, doc)
        if semantic:
            report(err is None, f"{name} passes the schema (refused only by cross checks)", err)
        else:
            report(err is not None, f"{name} is refused by the schema: {err}",
                   "the schema accepts it")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
