#!/usr/bin/env python3
"""Checks docs/proxy-config.schema.json against the documents that define the contract.

  - the schema itself is a valid JSON Schema (draft 2020-12);
  - every docs/examples/*.json and lib/tests/proxy-config/valid/*.json passes it,
    and its metadata.revision is the one docs/proxy-config.md defines (computed
    here independently of the C code);
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


def ecmascript_number(x):
    """A float as ECMAScript's Number::toString writes it (RFC 8785 section 3.2.2.3):
    the shortest digits that read back as x, plain decimals for 1e-6 <= |x| < 1e21."""
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError("NaN and infinities have no canonical form")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exponent = repr(abs(x)).partition("e")  # repr: the shortest round trip
    whole, _, fraction = mantissa.partition(".")
    exponent = int(exponent) if exponent else 0
    if whole != "0":
        point = len(whole) + exponent  # x = 0.DIGITS * 10^point
    else:
        point = exponent - (len(fraction) - len(fraction.lstrip("0")))
    digits = (whole + fraction).lstrip("0").rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    e = point - 1
    return (sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-")
            + str(abs(e)))


def canonical(value):
    """The canonical form of docs/proxy-config.md (RFC 8785): members sorted by code
    point, no insignificant whitespace, minimal string escapes, ECMAScript numbers."""
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(value[k])
                              for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, float):
        return ecmascript_number(value)
    # strings (Python escapes exactly the characters RFC 8785 does, in lower-case
    # hex), integers, true, false, null
    return json.dumps(value, ensure_ascii=False)


# The top-level arrays whose elements are digested one by one.
DIGESTED_LISTS = ("clusters", "services")


def canonical_revision(doc):
    """metadata.revision as docs/proxy-config.md defines it: each element of
    `clusters` and `services` is hashed on its own, each of those arrays becomes
    the hex SHA-256 of its elements' 32-byte digests concatenated, and the result,
    without metadata.revision and metadata.generatedAt, is hashed in canonical
    form."""
    d = dict(doc)
    if isinstance(d.get("metadata"), dict):
        d["metadata"] = {k: v for k, v in d["metadata"].items()
                         if k not in ("revision", "generatedAt")}
    for key in DIGESTED_LISTS:
        if isinstance(d.get(key), list):
            elements = b"".join(hashlib.sha256(canonical(e).encode("utf-8")).digest()
                                for e in d[key])
            d[key] = hashlib.sha256(elements).hexdigest()
    return "sha256:" + hashlib.sha256(canonical(d).encode("utf-8")).hexdigest()


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
        doc = load(path)
        err = first_error(validator, doc)
        report(err is None, f"{name} passes the schema", err)
        want = canonical_revision(doc)
        got = doc.get("metadata", {}).get("revision")
        report(got == want, f"{name} revision matches its content", f"got {got}, want {want}")

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
