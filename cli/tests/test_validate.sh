#!/usr/bin/env bash
# Black-box test of `weirctl validate`: verdicts, messages, line numbers and
# exit codes, on the test manifests and on hand-written edge cases.
set -uo pipefail

weirctl=$1
root=$2
manifests=$root/lib/tests/manifests
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

# 1. every valid manifest folder validates with exit 0
for dir in "$manifests"/*/valid; do
    "$weirctl" validate -f "$dir" >"$tmp/out" 2>&1
    rc=$?
    check "valid manifests in ${dir#$root/} exit 0" test "$rc" -eq 0
    check "no invalid verdict in ${dir#$root/}" bash -c "! grep -q '^invalid' '$tmp/out'"
done

# 2. every invalid manifest exits 1 and prints each expected message
for file in "$manifests"/*/invalid/*.yaml; do
    "$weirctl" validate -f "$file" >"$tmp/out" 2>&1
    rc=$?
    check "${file#$root/} exits 1" test "$rc" -eq 1
    while IFS= read -r line; do
        want=${line#\# expect: }
        check "${file#$root/} reports: $want" contains "$tmp/out" "$want"
    done < <(grep '^# expect: ' "$file")
done

# 3. line numbers and the summary on a hand-written stream
cat >"$tmp/mixed.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  ports:
  - port: 9080
---
apiVersion: networking.istio.io/v2
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
YAML
"$weirctl" validate -f "$tmp/mixed.yaml" >"$tmp/out" 2>&1
rc=$?
check "mixed stream exits 1" test "$rc" -eq 1
check "non-mesh kind is skipped" contains "$tmp/out" "skipped  Service default/reviews (v1) ($tmp/mixed.yaml:1)"
check "unserved version names the line and reason" contains "$tmp/out" \
    "$tmp/mixed.yaml:9: VirtualService default/reviews: apiVersion: networking.istio.io/v2 is not served; use v1, v1beta1 or v1alpha3"
check "summary line" contains "$tmp/out" "0 valid, 1 invalid, 1 skipped"

# 4. YAML errors are reported with their line, and earlier documents still judged
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: X\nkind: Y\n' >"$tmp/dup.yaml"
"$weirctl" validate -f "$tmp/dup.yaml" >"$tmp/out" 2>&1
rc=$?
check "duplicate key exits 1" test "$rc" -eq 1
check "duplicate key message" contains "$tmp/out" "$tmp/dup.yaml:7: duplicate key \"kind\" (first defined at line 6)"
check "document before the error is judged" contains "$tmp/out" "skipped  ConfigMap default/a"

# 5. usage errors exit 2, a missing file exits 1
"$weirctl" validate >"$tmp/out" 2>&1
check "no input exits 2" test $? -eq 2
"$weirctl" validate -f "$tmp/none.yaml" >"$tmp/out" 2>&1
check "missing file exits 1" test $? -eq 1
check "missing file message" contains "$tmp/out" "$tmp/none.yaml: cannot open: No such file or directory"
"$weirctl" frobnicate >"$tmp/out" 2>&1
check "unknown command exits 2" test $? -eq 2

# 6. stdin, --namespace and JSON output
"$weirctl" validate -n team-a -o json -f - <"$tmp/mixed.yaml" >"$tmp/out.json" 2>&1
check "json output parses" python3 -c "import json,sys; json.load(open('$tmp/out.json'))"
check "json names the default namespace" python3 -c "
import json
d = json.load(open('$tmp/out.json'))
o = [x for x in d['objects'] if x['verdict'] == 'invalid'][0]
assert o['object'] == 'VirtualService team-a/reviews', o
assert o['diagnostics'][0]['path'] == 'apiVersion'
assert d['summary'] == {'valid': 0, 'invalid': 1, 'skipped': 1, 'unreadable': 0}, d['summary']
"

# 7. Istio's own sample manifests and a RateLimitPolicy (the ones the CRD test applies to a cluster)
#    are all valid for Weir too: the model and the CRDs agree.
"$weirctl" validate -f "$root/e2e/tests/testdata/crds" >"$tmp/out" 2>&1
check "Istio samples validate" test $? -eq 0
check "samples: 37 objects valid" contains "$tmp/out" "37 valid, 0 invalid"

# 8. a list as `kubectl get -o yaml` prints it: each item checked, with its own line
cat >"$tmp/list.yaml" <<'EOF'
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata: {name: good, namespace: shop}
  spec:
    hosts: [cart]
    http: [{route: [{destination: {host: cart}}]}]
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata: {name: bad, namespace: shop}
  spec:
    hosts: [cart]
    http: [{route: [{destination: {host: cart}, weight: 60}, {destination: {host: cart}, weight: 60}]}]
EOF
"$weirctl" validate -f "$tmp/list.yaml" >"$tmp/out" 2>&1
rc=$?
check "a List's invalid item makes it exit 1" test "$rc" -eq 1
check "a List's items are counted one by one" contains "$tmp/out" "1 valid, 1 invalid, 0 skipped"
check "a List's item is reported at its own line" contains "$tmp/out" "invalid  VirtualService shop/bad ($tmp/list.yaml:10)"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
