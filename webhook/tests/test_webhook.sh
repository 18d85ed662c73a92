#!/usr/bin/env bash
# Component test of weir-webhook: the real binary on 127.0.0.1 over TLS, a CA
# and serving certificate made here with openssl, real AdmissionReview JSON
# sent with curl --cacert. Covers /inject, /validate, malformed and oversized
# bodies, /healthz, /metrics, certificate and mesh config reload without a
# restart, and a clean exit on SIGTERM.
#
#   test_webhook.sh WEIR_WEBHOOK WEIRCTL SOURCE_DIR
#
# Output: "ok N - ..." / "not ok N - ..." per check, then "N passed, M failed".
set -uo pipefail

webhook=$1
weirctl=$2
root=$3
data=$root/webhook/tests/data
applier=$root/webhook/tests/jsonpatch.py

for tool in curl openssl jq python3 base64; do
    command -v "$tool" >/dev/null || {
        echo "not ok - $tool is required"
        echo "0 passed, 1 failed"
        exit 1
    }
done

tmp=$(mktemp -d)
pid=""
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
n=0
check() { # check NAME COMMAND...
    local name=$1
    shift
    n=$((n + 1))
    if "$@"; then
        passed=$((passed + 1))
        echo "ok $n - $name"
    else
        failed=$((failed + 1))
        echo "not ok $n - $name"
    fi
}
eq() { # eq GOT WANT
    if [[ $1 == "$2" ]]; then
        return 0
    fi
    printf '    got:  %s\n    want: %s\n' "$1" "$2"
    return 1
}

# ---- certificates -----------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=weir-test-ca \
    -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
# issue SERIAL OUT_CERT OUT_KEY: a serving certificate for 127.0.0.1 (an IP
# SAN: clients do not fall back to the CN).
issue() {
    openssl req -newkey rsa:2048 -nodes -subj /CN=weir-webhook \
        -keyout "$3" -out "$tmp/req.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tmp/ext"
    openssl x509 -req -in "$tmp/req.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
        -set_serial "$1" -days 1 -extfile "$tmp/ext" -out "$2" 2>/dev/null
}
issue 0x1001 "$tmp/tls.crt" "$tmp/tls.key"

cat >"$tmp/mesh.yaml" <<'EOF'
trustDomain: test.local
proxy:
  image: registry.test/weir-proxy:one
  initImage: registry.test/weir-init:one
EOF

# ---- start ------------------------------------------------------------------
"$webhook" --listen 127.0.0.1:0 --tls-cert-file "$tmp/tls.crt" --tls-key-file "$tmp/tls.key" \
    --mesh-config "$tmp/mesh.yaml" --reload-interval 200ms --max-body-bytes 1048576 \
    --log-format json >"$tmp/log" 2>&1 &
pid=$!
port=""
for _ in $(seq 100); do
    port=$(jq -r 'select(.msg == "serving") | .port' "$tmp/log" 2>/dev/null | head -1)
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
if [[ -z $port ]]; then
    echo "not ok - weir-webhook did not start:"
    sed 's/^/    /' "$tmp/log"
    echo "0 passed, 1 failed"
    exit 1
fi
url=https://127.0.0.1:$port
c() { curl -sS --max-time 10 --cacert "$tmp/ca.crt" "$@"; }

# review KIND_FILE OBJECT_FILE NAMESPACE: an AdmissionReview around an object
review() {
    jq --slurpfile obj "$2" --arg ns "$3" \
        '.request.object = $obj[0] | .request.namespace = $ns' "$1"
}
vs_review() { # vs_review OBJECT_FILE OPERATION
    jq -n --slurpfile obj "$1" --arg op "$2" '{
        apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
        request: {uid: "vs-1", operation: $op, namespace: "default", name: "reviews",
                  kind: {group: "networking.istio.io", version: "v1", kind: "VirtualService"},
                  resource: {group: "networking.istio.io", version: "v1",
                             resource: "virtualservices"},
                  object: $obj[0]}}'
}

# ---- /healthz ---------------------------------------------------------------
check "/healthz answers ok over TLS verified by the test CA" \
    eq "$(c -w '%{http_code}' "$url/healthz" | tr '\n' ' ')" "ok 200"
check "the TLS certificate is the one issued (serial 1001)" \
    eq "$(echo | openssl s_client -connect "127.0.0.1:$port" -CAfile "$tmp/ca.crt" 2>/dev/null |
        openssl x509 -noout -serial)" "serial=1001"

# ---- /inject ----------------------------------------------------------------
c -H 'Content-Type: application/json' --data-binary @"$data/pod-review.json" "$url/inject?timeout=10s" \
    >"$tmp/inject.json"
check "inject: the response is an AdmissionReview for the request's uid" \
    eq "$(jq -r '[.apiVersion, .kind, .response.uid, .response.allowed] | join(" ")' "$tmp/inject.json")" \
    "admission.k8s.io/v1 AdmissionReview 3f1c7d52-9d0e-4b8f-a0a4-5d2b8f0e6c11 true"
check "inject: patchType is JSONPatch" eq "$(jq -r .response.patchType "$tmp/inject.json")" JSONPatch
jq -r .response.patch "$tmp/inject.json" | base64 -d >"$tmp/patch.json" 2>/dev/null
jq .request.object "$data/pod-review.json" >"$tmp/pod.json"
python3 "$applier" "$tmp/pod.json" "$tmp/patch.json" >"$tmp/injected.json" 2>"$tmp/apply.err"
check "inject: the base64 patch decodes and applies (independent RFC 6902 applier)" \
    test -s "$tmp/injected.json"
[[ -s $tmp/apply.err ]] && sed 's/^/    /' "$tmp/apply.err"
check "inject: weir-init then weir-proxy (restartPolicy Always) as init containers" \
    eq "$(jq -c '[.spec.initContainers[] | [.name, .restartPolicy]]' "$tmp/injected.json")" \
    '[["weir-init",null],["weir-proxy","Always"]]'
check "inject: images come from the mesh config" \
    eq "$(jq -r '[.spec.initContainers[].image] | join(" ")' "$tmp/injected.json")" \
    "registry.test/weir-init:one registry.test/weir-proxy:one"
check "inject: volumes kept and added" \
    eq "$(jq -c '[.spec.volumes[].name]' "$tmp/injected.json")" \
    '["kube-api-access-8xk2p","weir-proxy-config","weir-runtime","weir-ca-token","weir-podinfo"]'
check "inject: the CA token is projected with audience weir-ca for 12 hours" \
    eq "$(jq -c '.spec.volumes[3].projected.sources[0].serviceAccountToken' "$tmp/injected.json")" \
    '{"audience":"weir-ca","expirationSeconds":43200,"path":"weir-ca-token"}'
check "inject: the proxy reads the pod's labels from a downward API volume" \
    eq "$(jq -c '[.spec.volumes[4].downwardAPI.items[].fieldRef.fieldPath,
                  (.spec.initContainers[1] | .args, (.volumeMounts[] | select(.name == "weir-podinfo") | [.mountPath, .readOnly]))]' \
                 "$tmp/injected.json")" \
    '["metadata.labels","metadata.annotations",["--pod-labels-file","/etc/weir/pod/labels"],["/etc/weir/pod",true]]'
check "inject: the readiness probe on the named port goes through the proxy" \
    eq "$(jq -c '.spec.containers[0].readinessProbe.httpGet' "$tmp/injected.json")" \
    '{"path":"/app-health/productpage/readyz","port":15021,"scheme":"HTTP"}'
check "inject: the original probe is handed to the proxy" \
    eq "$(jq -r '.spec.initContainers[1].env[] | select(.name == "WEIR_KUBE_APP_PROBERS") | .value' \
        "$tmp/injected.json")" \
    '{"/app-health/productpage/readyz":{"httpGet":{"path":"/health","port":9080,"scheme":"HTTP"},"timeoutSeconds":1}}'
check "inject: status and Prometheus annotations" \
    eq "$(jq -r '.metadata.annotations | [(."weir.dev/status" | fromjson | .initContainers | join(",")),
        ."prometheus.io/scrape", ."prometheus.io/port", ."prometheus.io/path"] | join(" ")' \
        "$tmp/injected.json")" "weir-init,weir-proxy true 15090 /stats/prometheus"
check "inject: labels kept, mTLS mode label added" \
    eq "$(jq -c '.metadata.labels' "$tmp/injected.json")" \
    '{"app":"productpage","pod-template-hash":"6b746f74dc","version":"v1","security.istio.io/tlsMode":"istio"}'

"$weirctl" inject -q -f "$tmp/pod.json" --mesh-config "$tmp/mesh.yaml" --format json \
    >"$tmp/offline.json" 2>&1
check "inject: weirctl inject offline gives the very same pod as the webhook" \
    eq "$(jq -S -c . "$tmp/offline.json")" "$(jq -S -c . "$tmp/injected.json")"

# The flags are weir-init's interface: when it is built next to the webhook,
# the injected arguments must be accepted by it as they are.
weir_init=$(dirname "$webhook")/../proxy/init/weir-init
if [[ -x $weir_init ]]; then
    mapfile -t init_args < <(jq -r '.spec.initContainers[0].args[]' "$tmp/injected.json")
    "$weir_init" --dry-run "${init_args[@]}" >"$tmp/rules" 2>&1
    check "inject: weir-init --dry-run accepts the injected arguments" eq "$?" 0
    check "inject: ... and redirects to the proxy's ports" \
        grep -q -- '-j REDIRECT --to-ports 15001' "$tmp/rules"
else
    echo "# weir-init not built next to the webhook; its argument check is skipped"
fi

# the injected pod sent again is left alone
jq --slurpfile p "$tmp/injected.json" '.request.object = $p[0]' "$data/pod-review.json" >"$tmp/again.json"
c --data-binary @"$tmp/again.json" "$url/inject" >"$tmp/out.json"
check "inject: an injected pod is allowed unchanged" \
    eq "$(jq -c '.response | [.allowed, .patch]' "$tmp/out.json")" '[true,null]'

jq '.request.object.metadata.annotations = {"sidecar.istio.io/inject": "false"}' \
    "$data/pod-review.json" >"$tmp/optout.json"
c --data-binary @"$tmp/optout.json" "$url/inject" >"$tmp/out.json"
check "inject: a pod annotated sidecar.istio.io/inject=false is allowed unchanged" \
    eq "$(jq -c '.response | [.allowed, .patch]' "$tmp/out.json")" '[true,null]'

jq '.request.object.spec.hostNetwork = true' "$data/pod-review.json" >"$tmp/hostnet.json"
c --data-binary @"$tmp/hostnet.json" "$url/inject" >"$tmp/out.json"
check "inject: a hostNetwork pod is allowed unchanged" \
    eq "$(jq -c '.response | [.allowed, .patch]' "$tmp/out.json")" '[true,null]'

jq '.request.object.metadata.annotations = {
        "traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/40",
        "sidecar.istio.io/proxyMemory": "lots"}' "$data/pod-review.json" >"$tmp/badann.json"
c --data-binary @"$tmp/badann.json" "$url/inject" >"$tmp/out.json"
check "inject: malformed annotations refuse the pod with code 400 and every reason" \
    eq "$(jq -r '.response | [.allowed, .status.code, .status.message] | map(tostring) | join(" | ")' "$tmp/out.json")" \
    'false | 400 | Pod shop/productpage-v1-6b746f74dc-*: metadata.annotations["sidecar.istio.io/proxyMemory"]: "lots" is not a Kubernetes quantity (such as 500m, 2, 128Mi); Pod shop/productpage-v1-6b746f74dc-*: metadata.annotations["traffic.sidecar.istio.io/excludeOutboundIPRanges"]: "10.0.0.0/40": CIDR prefix length must be 0..32'

# ---- /validate --------------------------------------------------------------
vs_review "$data/vs-bad.json" CREATE >"$tmp/vs-bad-review.json"
c --data-binary @"$tmp/vs-bad-review.json" "$url/validate" >"$tmp/out.json"
want_msg='VirtualService default/reviews: spec.http[0].route[0].weight: must be 0..100, got 140; VirtualService default/reviews: spec.http[0].timeout: invalid duration "2" (use a form such as "1.5s" or "250ms")'
check "validate: a bad VirtualService is refused with code 400" \
    eq "$(jq -c '.response | [.uid, .allowed, .status.code]' "$tmp/out.json")" '["vs-1",false,400]'
check "validate: the message names every field and reason" \
    eq "$(jq -r .response.status.message "$tmp/out.json")" "$want_msg"
"$weirctl" validate -o json -f "$data/vs-bad.json" >"$tmp/weirctl.json" 2>/dev/null
check "validate: the message is exactly what weirctl validate reports" \
    eq "$(jq -r '[.objects[0].diagnostics[] | select(.severity == "error") | .text] | join("; ")' \
        "$tmp/weirctl.json")" "$(jq -r .response.status.message "$tmp/out.json")"

vs_review "$data/vs-unsupported.json" UPDATE >"$tmp/vs-unsup-review.json"
c --data-binary @"$tmp/vs-unsup-review.json" "$url/validate" >"$tmp/out.json"
check "validate: an unsupported field is allowed with a warning" \
    eq "$(jq -c '.response | [.allowed, .warnings]' "$tmp/out.json")" \
    '[true,["VirtualService default/reviews: spec.http[0].match[0].gateways: field is not supported by Weir yet"]]'

vs_review "$data/vs-good.json" CREATE >"$tmp/vs-good-review.json"
c --data-binary @"$tmp/vs-good-review.json" "$url/validate" >"$tmp/out.json"
check "validate: a good VirtualService is allowed without warnings" \
    eq "$(jq -c '.response | [.allowed, .warnings, .status]' "$tmp/out.json")" '[true,null,null]'

# ---- bad requests -----------------------------------------------------------
check "a body that is not JSON gets 400 with the reason" \
    eq "$(c -w '%{http_code}' --data-binary '{"apiVersion": ' "$url/validate" | tr '\n' ' ')" \
    "request body is not JSON: unexpected token near end of file (line 1, column 15) 400"
check "JSON that is not an AdmissionReview gets 400" \
    eq "$(c -w '%{http_code}' --data-binary @"$data/vs-good.json" "$url/validate" | tr '\n' ' ')" \
    "request body is not an admission.k8s.io/v1 AdmissionReview: kind is not AdmissionReview 400"
check "an admission.k8s.io/v1beta1 review gets 400 naming the version" \
    eq "$(jq '.apiVersion = "admission.k8s.io/v1beta1"' "$data/pod-review.json" |
        c -o /dev/null -w '%{http_code}' --data-binary @- "$url/inject")" 400
head -c $((1048576 + 1)) /dev/zero | tr '\0' ' ' >"$tmp/big"
check "a body over --max-body-bytes gets 413 before it is read" \
    eq "$(c -w '%{http_code}' --data-binary @"$tmp/big" "$url/inject" | tr '\n' ' ')" \
    "request body is larger than the limit of 1048576 bytes 413"
check "a chunked body over the limit gets 413 too" \
    eq "$(c -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big" \
        "$url/validate")" 413
check "GET /inject is 405" eq "$(c -o /dev/null -w '%{http_code}' "$url/inject")" 405
check "an unknown path is 404" eq "$(c -o /dev/null -w '%{http_code}' "$url/mutate")" 404
check "plain HTTP on the TLS port gets no answer" \
    bash -c "! curl -sS --max-time 3 http://127.0.0.1:$port/healthz >/dev/null 2>&1"

# ---- concurrency ------------------------------------------------------------
seq 200 | xargs -P 8 -I{} curl -sS --max-time 10 --cacert "$tmp/ca.crt" \
    --data-binary @"$data/pod-review.json" -o /dev/null -w '%{http_code}\n' "$url/inject" \
    >"$tmp/codes"
check "200 concurrent injections (8 at a time) all answered 200" \
    eq "$(sort "$tmp/codes" | uniq -c | awk '{print $1" "$2}')" "200 200"

# ---- /metrics ---------------------------------------------------------------
c "$url/metrics" >"$tmp/metrics"
metric() { awk -v k="$1" '$1 == k {print $2}' "$tmp/metrics"; }
check "metrics: injected = 1 + 200" \
    eq "$(metric 'weir_webhook_admission_requests_total{endpoint="inject",result="injected"}')" 201
check "metrics: skipped = 3 (injected, opted out, hostNetwork)" \
    eq "$(metric 'weir_webhook_admission_requests_total{endpoint="inject",result="skipped"}')" 3
check "metrics: refused = 1" \
    eq "$(metric 'weir_webhook_admission_requests_total{endpoint="inject",result="refused"}')" 1
check "metrics: inject bad requests = 2 (v1beta1, oversized)" \
    eq "$(metric 'weir_webhook_admission_requests_total{endpoint="inject",result="bad_request"}')" 2
check "metrics: validate denied 1, warned 1, allowed 1, bad requests 3" \
    eq "$(for r in denied warned allowed bad_request; do
        metric "weir_webhook_admission_requests_total{endpoint=\"validate\",result=\"$r\"}"
    done | tr '\n' ' ')" "1 1 1 3 "
check "metrics: the latency histogram counts every inject request" \
    eq "$(metric 'weir_webhook_admission_duration_seconds_count{endpoint="inject"}')" 207
check "metrics: +Inf bucket equals the count" \
    eq "$(metric 'weir_webhook_admission_duration_seconds_bucket{endpoint="inject",le="+Inf"}')" 207
p99=$(awk '/^weir_webhook_admission_duration_seconds_bucket\{endpoint="inject"/ {
        match($1, /le="[^"]+"/); le = substr($1, RSTART + 4, RLENGTH - 5); les[n] = le; cnt[n++] = $2 }
        END { total = cnt[n - 1]; for (i = 0; i < n; i++) if (cnt[i] >= 0.99 * total) { print les[i]; exit } }' \
    "$tmp/metrics")
echo "# inject latency p99 bucket (webhook side): <= ${p99}s"

# ---- certificate rotation ---------------------------------------------------
issue 0x2002 "$tmp/new.crt" "$tmp/new.key"
mv "$tmp/new.key" "$tmp/tls.key"
mv "$tmp/new.crt" "$tmp/tls.crt"
serial=""
for _ in $(seq 50); do
    serial=$(echo | openssl s_client -connect "127.0.0.1:$port" -CAfile "$tmp/ca.crt" 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null)
    [[ $serial == "serial=2002" ]] && break
    sleep 0.1
done
check "rotation: the new certificate (serial 2002) is served without a restart" eq "$serial" "serial=2002"
check "rotation: same process" kill -0 "$pid"
check "rotation: requests succeed on the new certificate" \
    eq "$(c -w '%{http_code}' "$url/healthz" | tr '\n' ' ')" "ok 200"
c --data-binary @"$data/pod-review.json" -o /dev/null -w '%{http_code}' "$url/inject" >"$tmp/code"
check "rotation: injection still works" eq "$(cat "$tmp/code")" 200

echo "not a certificate" >"$tmp/tls.crt"
sleep 1
check "rotation: a broken certificate file is refused and the last good one stays" \
    eq "$(echo | openssl s_client -connect "127.0.0.1:$port" -CAfile "$tmp/ca.crt" 2>/dev/null |
        openssl x509 -noout -serial)" "serial=2002"
check "rotation: the refusal is logged" \
    grep -q '"msg":"serving certificate not reloaded; the previous one stays"' "$tmp/log"
c "$url/metrics" >"$tmp/metrics"
check "metrics: cert reloads success 2 (start, rotation), failure 1" \
    eq "$(metric 'weir_webhook_cert_reloads_total{result="success"}') $(metric 'weir_webhook_cert_reloads_total{result="failure"}')" "2 1"
check "metrics: the certificate expiry is exported" \
    bash -c "[[ \$(awk '\$1 == \"weir_webhook_cert_not_after_timestamp_seconds\" {print \$2}' '$tmp/metrics') -gt \$(date +%s) ]]"

# ---- mesh config reload -----------------------------------------------------
sed -i 's/weir-proxy:one/weir-proxy:two/' "$tmp/mesh.yaml"
img=""
for _ in $(seq 50); do
    img=$(c --data-binary @"$data/pod-review.json" "$url/inject" | jq -r .response.patch | base64 -d |
        jq -r '.[] | select(.path == "/spec/initContainers") | .value[1].image')
    [[ $img == "registry.test/weir-proxy:two" ]] && break
    sleep 0.1
done
check "mesh config: a change of the file is picked up without a restart" \
    eq "$img" "registry.test/weir-proxy:two"
echo "proxy: {imag: typo}" >"$tmp/mesh.yaml"
sleep 1
img=$(c --data-binary @"$data/pod-review.json" "$url/inject" | jq -r .response.patch | base64 -d |
    jq -r '.[] | select(.path == "/spec/initContainers") | .value[1].image')
check "mesh config: an invalid file is refused and the last good one stays" \
    eq "$img" "registry.test/weir-proxy:two"
check "mesh config: the refusal names the field" \
    grep -q 'MeshConfig: proxy.imag: unknown field' "$tmp/log"

# ---- logs and shutdown ------------------------------------------------------
check "every log line is a JSON object with ts, level, component and msg" \
    jq -e -s 'all(.[]; has("ts") and has("level") and .component == "weir-webhook" and has("msg"))' \
    "$tmp/log" >/dev/null
check "admissions are logged with endpoint, uid and result" \
    jq -e -s 'any(.[]; .msg == "admission" and .endpoint == "validate" and .uid == "vs-1" and .result == "denied")' \
    "$tmp/log" >/dev/null
kill -TERM "$pid"
rc=""
for _ in $(seq 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        rc=$?
        break
    fi
    sleep 0.05
done
check "SIGTERM: exits 0 within 5 s" eq "$rc" 0
pid=""
check "SIGTERM: logs its stop" grep -q '"msg":"stopped"' "$tmp/log"
check "no sanitizer report" bash -c "! grep -q 'Sanitizer' '$tmp/log'"
if ((failed)); then
    echo "# webhook log:"
    sed 's/^/#   /' "$tmp/log" | tail -40
fi

echo "$passed passed, $failed failed"
((failed == 0))
