#!/usr/bin/env bash
# Black-box test of `weirctl render`: the configs it prints (the same bytes as
# the translation's golden files), the diagnostics on stderr with file:line,
# and the exit codes.
set -uo pipefail

weirctl=$1
root=$2
golden=$root/lib/tests/translate
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
check() { # check NAME COND...
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok - $name"
    else
        failed=$((failed + 1))
        echo "not ok - $name"
    fi
}
contains() { grep -qF -- "$2" "$1"; }
lacks() { ! grep -qF -- "$2" "$1"; }

# 1. the examples render, every object is valid: exit 0, one config
"$weirctl" render -f "$root/examples/bookinfo" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "examples/bookinfo exits 0" test "$rc" -eq 0
check "examples/bookinfo prints the bookinfo config" python3 -c "
import json
d = json.load(open('$tmp/out'))
assert d['apiVersion'] == 'proxy.weir.dev/v1' and d['metadata']['namespace'] == 'bookinfo', d['metadata']
hosts = [s['host'] for s in d['services']]
assert hosts == ['ratings.bookinfo.svc.cluster.local', 'reviews.bookinfo.svc.cluster.local'], hosts
names = [c['name'] for c in d['clusters']]
assert 'outbound|9080|v3|reviews.bookinfo.svc.cluster.local' in names, names
assert d['inbound']['peerAuthentication'] == [{'name': 'bookinfo/default', 'mode': 'strict'}]
"
check "examples/bookinfo warns with file:line" contains "$tmp/err" \
    "reviews.yaml:35: warning: DestinationRule bookinfo/reviews: spec.subsets[2]: subset v3 selects no pods"

# 2. a golden case prints exactly its expected config
"$weirctl" render -f "$golden/bookinfo/input.yaml" >"$tmp/out" 2>"$tmp/err"
check "golden bookinfo exits 0" test $? -eq 0
check "golden bookinfo is byte for byte the expected config" \
    cmp -s "$tmp/out" "$golden/bookinfo/expected/bookinfo.json"
check "no diagnostics for a clean input" test ! -s "$tmp/err"

# 3. several namespaces, --namespace picks some, --trust-domain changes identities
"$weirctl" render -f "$golden/export-to/input.yaml" >"$tmp/out" 2>"$tmp/err"
check "several namespaces: a stream of three configs" python3 -c "
import json
docs, dec, text, i = [], json.JSONDecoder(), open('$tmp/out').read(), 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    d, i = dec.raw_decode(text, i)
    docs.append(d['metadata']['namespace'])
assert docs == ['team-a', 'team-b', 'team-c'], docs
"
cat "$golden/export-to/expected/team-b.json" "$golden/export-to/expected/team-c.json" >"$tmp/want"
"$weirctl" render -f "$golden/export-to/input.yaml" --namespace team-c -n team-b >"$tmp/out" 2>/dev/null
check "--namespace renders only those" cmp -s "$tmp/out" "$tmp/want"
"$weirctl" render -f "$golden/bookinfo/input.yaml" --trust-domain corp.example >"$tmp/out" 2>/dev/null
check "--trust-domain sets identities" contains "$tmp/out" \
    '"identity": "spiffe://corp.example/ns/bookinfo/sa/bookinfo-reviews"'
check "--trust-domain sets the document's" contains "$tmp/out" '"trustDomain": "corp.example"'

# 4. an invalid object: exit 1, the message with its line, the others still rendered
cat >"$tmp/bad.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: 140
YAML
"$weirctl" render -f "$tmp/bad.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "invalid object exits 1" test "$rc" -eq 1
check "invalid object: message names file, line, object and field" contains "$tmp/err" \
    "$tmp/bad.yaml:17: VirtualService shop/reviews: spec.http[0].route[0].weight: must be 0..100, got 140"
check "invalid object: the rest still renders" contains "$tmp/out" '"name": "default"'

# 5. a conflict is not accepted: exit 1, the reason on stderr
"$weirctl" render -f "$golden/vs-conflict/input.yaml" >/dev/null 2>"$tmp/err"
check "conflicting VirtualService exits 1" test $? -eq 1
check "conflict reason printed" contains "$tmp/err" \
    "vs-conflict/input.yaml:21: VirtualService default/reviews-new: every host of this VirtualService is routed by another one that takes precedence"

# 6. workloads without pods: a comment says their endpoints are missing
cat >"$tmp/deploy.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80}
YAML
"$weirctl" render -f "$tmp/deploy.yaml" >"$tmp/out" 2>"$tmp/err"
check "deployment without pods exits 0" test $? -eq 0
check "deployment without pods: comment on stderr" contains "$tmp/err" \
    "# Deployment shop/web: no Pod or EndpointSlice for it in the input"
check "deployment without pods: cluster without endpoints" contains "$tmp/out" '"endpoints": []'

# 7. unreadable input and usage errors
printf 'kind: X\nkind: Y\n' >"$tmp/dup.yaml"
"$weirctl" render -f "$tmp/dup.yaml" >/dev/null 2>"$tmp/err"
check "YAML error exits 1" test $? -eq 1
check "YAML error names the line" contains "$tmp/err" "$tmp/dup.yaml:2: duplicate key \"kind\""
"$weirctl" render -f "$tmp/none.yaml" >/dev/null 2>"$tmp/err"
check "missing file exits 1" test $? -eq 1
"$weirctl" render >/dev/null 2>&1
check "no input exits 2" test $? -eq 2
"$weirctl" render -f "$tmp/bad.yaml" -o yaml >/dev/null 2>&1
check "unknown output format exits 2" test $? -eq 2
"$weirctl" render -f "$tmp/bad.yaml" --trust-domain 'Bad Domain' >/dev/null 2>&1
check "invalid trust domain exits 2" test $? -eq 2
"$weirctl" render -f - <"$golden/bookinfo/input.yaml" >"$tmp/out" 2>/dev/null
check "stdin renders the same" cmp -s "$tmp/out" "$golden/bookinfo/expected/bookinfo.json"
check "help mentions render" bash -c "'$weirctl' help | grep -q render"

# 8. every golden config passes the JSON Schema, and its revision is the one
#    scripts/check-proxy-config-schema.py computes on its own
check "golden configs: schema and independent revision" python3 - "$root" <<'PY'
import glob, importlib.util, sys
root = sys.argv[1]
spec = importlib.util.spec_from_file_location("chk", root + "/scripts/check-proxy-config-schema.py")
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
from jsonschema import Draft202012Validator
v = Draft202012Validator(m.load(root + "/docs/proxy-config.schema.json"))
files = sorted(glob.glob(root + "/lib/tests/translate/*/expected/*.json"))
assert len(files) >= 12, files
for f in files:
    d = m.load(f)
    err = m.first_error(v, d)
    assert err is None, (f, err)
    assert m.canonical_revision(d) == d["metadata"]["revision"], f
PY

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
