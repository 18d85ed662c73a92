#!/usr/bin/env bash
# Black-box test of `weirctl inject`: every workload kind, pass-through of
# other objects, YAML and JSON output read back, idempotence, refusals with
# file and line, mesh config files, stdin and -o.
#
#   test_inject.sh WEIRCTL SOURCE_DIR
set -uo pipefail

weirctl=$1
root=$2
data=$root/lib/tests/inject
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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
eq() {
    [[ $1 == "$2" ]] && return 0
    printf '    got:  %s\n    want: %s\n' "$1" "$2"
    return 1
}
contains() { grep -qF -- "$2" "$1" || { sed 's/^/    /' "$1"; return 1; }; }

cat >"$tmp/all.yaml" <<'EOF'
# Every kind with a pod template, plus objects that must pass through.
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
    targetPort: "8080"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  enabled: "true"
  count: "3"
  file.conf: |
    a = 1
    b = 2
---
apiVersion: v1
kind: Pod
metadata:
  name: pod
spec:
  containers: [{name: c, image: i}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: deploy, namespace: shop}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}],
                    readinessProbe: {httpGet: {path: /ready, port: http}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: sts}
spec:
  serviceName: sts
  selector: {matchLabels: {app: s}}
  template:
    metadata: {labels: {app: s}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  selector: {matchLabels: {app: ds}}
  template:
    metadata: {labels: {app: ds}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  selector: {matchLabels: {app: rs}}
  template:
    metadata: {labels: {app: rs}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: job}
spec:
  template:
    metadata:
      annotations: {sidecar.istio.io/nativeSidecar: "false"}
    spec: {restartPolicy: Never, containers: [{name: c, image: i}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cron}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: OnFailure, containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: opted-out}
spec:
  selector: {matchLabels: {app: o}}
  template:
    metadata:
      labels: {app: o, sidecar.istio.io/inject: "false"}
    spec: {containers: [{name: c, image: i}]}
EOF

# ---- JSON output ------------------------------------------------------------
"$weirctl" inject -f "$tmp/all.yaml" --format json >"$tmp/out.json" 2>"$tmp/err"
rc=$?
check "exit 0" eq "$rc" 0
check "summary on stderr" contains "$tmp/err" "7 injected, 1 skipped, 2 passed through"
check "the opted-out Deployment is reported as skipped" \
    contains "$tmp/err" "skipped Deployment default/opted-out: the pod opts out with sidecar.istio.io/inject"
check "every document is written, in order" \
    eq "$(jq -c '[.items[] | .kind]' "$tmp/out.json")" \
    '["Service","ConfigMap","Pod","Deployment","StatefulSet","DaemonSet","ReplicaSet","Job","CronJob","Deployment"]'
cat >"$tmp/other.json" <<'EOF'
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"a": "b"}},
 "spec": {"ports": [{"port": 80, "targetPort": "8080"}], "ratio": 1.5, "flag": true, "none": null}}
---
{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "r"},
 "spec": {"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}}]}]}}
EOF
check "objects without a pod template pass through unchanged (JSON)" \
    eq "$("$weirctl" inject -q -f "$tmp/other.json" --format json | jq -c .items)" \
    "$(grep -v '^---$' "$tmp/other.json" | jq -s -c .)"
check "objects without a pod template pass through unchanged (YAML read back)" \
    eq "$("$weirctl" inject -q -f "$tmp/other.json" | "$weirctl" inject -q -f - --format json |
        jq -c .items)" "$(grep -v '^---$' "$tmp/other.json" | jq -s -c .)"
check "the Service and ConfigMap are not touched (no injected fields)" \
    eq "$(jq -c '[.items[0:2][] | .metadata.annotations]' "$tmp/out.json")" '[null,null]'
pods='def pod: if .kind == "Pod" then . elif .kind == "CronJob" then .spec.jobTemplate.spec.template else .spec.template end;'
check "the Pod and every template get weir-init and the native proxy" \
    eq "$(jq -c "$pods"' [.items[2:7][], .items[8] | pod | [.spec.initContainers[] | .name + ":" + (.restartPolicy // "-")]] | unique' "$tmp/out.json")" \
    '[["weir-init:-","weir-proxy:Always"]]'
check "the Job asking for a regular sidecar gets the proxy first among its containers" \
    eq "$(jq -c "$pods"' .items[7] | pod | [[.spec.initContainers[].name], [.spec.containers[].name]]' "$tmp/out.json")" \
    '[["weir-init"],["weir-proxy","c"]]'
check "templates keep their labels and gain the mTLS label" \
    eq "$(jq -c '.items[3].spec.template.metadata.labels' "$tmp/out.json")" \
    '{"app":"d","security.istio.io/tlsMode":"istio"}'
check "the Deployment's probe on a named port is rewritten" \
    eq "$(jq -c '.items[3].spec.template.spec.containers[0].readinessProbe.httpGet' "$tmp/out.json")" \
    '{"path":"/app-health/c/readyz","port":15021,"scheme":"HTTP"}'
check "the opted-out Deployment is unchanged" \
    eq "$(jq -c '.items[9].spec.template.spec | [.initContainers, .volumes]' "$tmp/out.json")" '[null,null]'
check "default images from the built-in mesh config" \
    eq "$(jq -r '.items[2].spec.initContainers[0].image' "$tmp/out.json")" \
    "ghcr.io/weir-mesh/weir-init:$("$weirctl" version | awk '{print $2}')"

# ---- YAML output ------------------------------------------------------------
"$weirctl" inject -q -f "$tmp/all.yaml" -o "$tmp/out.yaml"
check "YAML output read back equals the JSON output" \
    eq "$("$weirctl" inject -q -f "$tmp/out.yaml" --format json | jq -c .)" "$(jq -c . "$tmp/out.json")"
check "YAML output keeps strings that look like numbers or booleans as strings" \
    eq "$(grep -E "^  (enabled|count):" "$tmp/out.yaml" | tr -d ' ')" "enabled:'true'
count:'3'"
check "YAML output writes multi-line strings as literal blocks" \
    contains "$tmp/out.yaml" "  file.conf: |"
check "YAML output separates documents with ---" eq "$(grep -c '^---$' "$tmp/out.yaml")" 9
"$weirctl" inject -f "$tmp/out.yaml" -o "$tmp/again.yaml" 2>"$tmp/err"
check "injecting the output again changes nothing" cmp -s "$tmp/out.yaml" "$tmp/again.yaml"
check "... and reports every workload as already injected" \
    eq "$(grep -c ': already injected$' "$tmp/err")" 7

# ---- stdin, List, namespace ---------------------------------------------------
cat >"$tmp/list.json" <<'EOF'
{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
  {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}}]}
EOF
"$weirctl" inject -q -f - --format json <"$tmp/list.json" >"$tmp/out.json"
check "stdin: the items of a List are injected, others kept" \
    eq "$(jq -c '[.items[] | [.kind, ([.spec.initContainers[]?.name] | length)]]' "$tmp/out.json")" \
    '[["Pod",2],["Secret",0]]'

# ---- refusals ---------------------------------------------------------------
cat >"$tmp/bad.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: fine}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata:
      annotations:
        traffic.sidecar.istio.io/includeInboundPorts: "80,eighty"
    spec:
      containers: [{name: c, image: i}]
EOF
"$weirctl" inject -f "$tmp/bad.yaml" -o "$tmp/bad-out.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "a refused object exits 1" eq "$rc" 1
check "the reason names file, line, object and field path" contains "$tmp/err" \
    "$tmp/bad.yaml:13: Deployment shop/web: spec.template.metadata.annotations[\"traffic.sidecar.istio.io/includeInboundPorts\"]: \"eighty\" is not a port number (1..65535)"
check "nothing is written when an object is refused" test ! -e "$tmp/bad-out.yaml"

# ---- mesh config ------------------------------------------------------------
cat >"$tmp/mesh-cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: weir-mesh-config, namespace: weir-system}
data:
  mesh: |
    proxy:
      image: registry.test/proxy:7
      nativeSidecar: false
EOF
"$weirctl" inject -q -f "$tmp/all.yaml" --mesh-config "$tmp/mesh-cm.yaml" --format json >"$tmp/out.json"
check "--mesh-config (a ConfigMap manifest): image and regular sidecar from it" \
    eq "$(jq -r '.items[2].spec.containers[0] | .name + " " + .image' "$tmp/out.json")" \
    "weir-proxy registry.test/proxy:7"
"$weirctl" inject -q -f "$tmp/all.yaml" --mesh-config "$root/docs/examples/mesh-config.yaml" \
    --format json >/dev/null
check "the documented example mesh config is accepted" eq "$?" 0
printf 'proxy:\n  resources:\n    limits: {cpu: lots}\n' >"$tmp/mesh-bad.yaml"
"$weirctl" inject -f "$tmp/all.yaml" --mesh-config "$tmp/mesh-bad.yaml" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "an invalid mesh config exits 2" eq "$rc" 2
check "... naming file, line and field" contains "$tmp/err" \
    "$tmp/mesh-bad.yaml:3: MeshConfig: proxy.resources.limits.cpu: \"lots\" is not a Kubernetes quantity (such as 500m, 2, 128Mi, 1Gi)"

# ---- usage ------------------------------------------------------------------
"$weirctl" inject >/dev/null 2>&1
check "no input is a usage error (2)" eq "$?" 2
"$weirctl" inject -f /nonexistent.yaml >/dev/null 2>"$tmp/err"
check "a missing file exits 2" eq "$?" 2
check "... and says why" contains "$tmp/err" "/nonexistent.yaml"
"$weirctl" inject -f "$tmp/all.yaml" --format xml >/dev/null 2>&1
check "an unknown format is a usage error" eq "$?" 2
check "--help exits 0" bash -c "'$weirctl' inject --help >/dev/null"

# the golden test manifests inject as the unit tests expect
"$weirctl" inject -q -f "$data/deployment-full.yaml" --mesh-config "$data/mesh.yaml" --format json \
    >"$tmp/deploy.json"
check "the unit test's Deployment injects with the same init container args" \
    eq "$(jq -c '.spec.template.spec.initContainers[0].args[13]' "$tmp/deploy.json")" '"9080,9443"'

echo "$passed passed, $failed failed"
((failed == 0))
