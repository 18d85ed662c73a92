#!/usr/bin/env bash
# Weir's main job, as far as it exists today: build Weir, check the example
# mesh configuration the way the mesh will (and show what a mistake looks
# like), start a real local Kubernetes control plane (kube-apiserver, etcd,
# kube-controller-manager built from the Kubernetes Go modules), install Weir
# into it (CRDs, weir-webhook registered for injection and validation, and
# weir-operator once it is built) and show it at work with real kubectl:
# Bookinfo's routing accepted, a broken VirtualService refused with the field
# and the reason, a pod coming back with Weir's sidecar. Everything is left
# running for you to use; stop it with e2e/cluster/down.
#
# Run it again with the cluster still up and it reuses the cluster, the
# webhook and the operator (restarting a program whose binary was rebuilt).
# WEIR_CLUSTER_DIR picks the cluster (default /tmp/weir-cluster), WEIR_BUILD
# the build folder (default build/).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${WEIR_BUILD:-$root/build}
cd "$root"

step() { printf '\n==> %s\n' "$*"; }
fail() {
    echo "demo: error: $*" >&2
    exit 1
}
indent() { sed 's/^/    /'; }

step "installing packages"
bash scripts/install-deps.sh

step "building Weir"
mkdir -p "$build"
# Every option is given, so that options cached in an existing build folder
# (warnings as errors, sanitizers) do not carry over into the demo's build.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_TESTS=OFF \
    -DWEIR_WERROR=OFF -DWEIR_SANITIZE=OFF -DWEIR_FUZZ=OFF >"$build/demo-build.log" 2>&1 &&
    cmake --build "$build" -j2 >>"$build/demo-build.log" 2>&1 || {
    tail -n 30 "$build/demo-build.log" >&2
    fail "the build failed; the full log is $build/demo-build.log"
}
weirctl="$build/cli/weirctl"
built=()
for b in cli/weirctl webhook/weir-webhook operator/weir-operator proxy/weir-proxy proxy/init/weir-init; do
    [[ -x $build/$b ]] && built+=("${b##*/}")
done
echo "built in $build: ${built[*]}"

step "weirctl validate -f examples/bookinfo"
"$weirctl" validate -f examples/bookinfo || fail "weirctl refused examples/bookinfo"

step "weirctl validate -f examples/mistakes (expected to fail)"
if "$weirctl" validate -f examples/mistakes; then
    fail "the broken example was accepted; that is a bug"
fi

step "starting the local Kubernetes control plane"
bash e2e/cluster/up || fail "e2e/cluster/up failed (its logs are in ${WEIR_CLUSTER_DIR:-/tmp/weir-cluster}/logs)"
# shellcheck source=e2e/cluster/env.sh
source e2e/cluster/env.sh
k() { "$KUBECTL" --request-timeout=30s "$@"; }
k version || fail "kubectl cannot reach the cluster"
k get namespaces

step "installing Weir into the cluster (e2e/install/weir.sh)"
export WEIR_BUILD=$build
# shellcheck source=e2e/install/weir.sh
source e2e/install/weir.sh
weir_install
operator_runs=0
weir_proc_pid weir-operator >/dev/null && operator_runs=1

step "namespace bookinfo, labelled weir-injection=enabled"
k create namespace bookinfo --dry-run=client -o yaml | k apply -f - >/dev/null ||
    fail "cannot create the namespace bookinfo"
k label namespace bookinfo weir-injection=enabled --overwrite >/dev/null ||
    fail "cannot label the namespace bookinfo"
k get namespace bookinfo --show-labels
[[ $(k get namespace bookinfo -o jsonpath='{.metadata.labels.weir-injection}') == enabled ]] ||
    fail "the namespace bookinfo is not labelled weir-injection=enabled"

step "kubectl apply -f examples/bookinfo/ (validated by weir-webhook, accepted)"
k apply -f examples/bookinfo/ || fail "kubectl apply -f examples/bookinfo/ was refused"
echo
k get vs,dr,pa,ap -n bookinfo || fail "kubectl get vs,dr,pa,ap -n bookinfo failed"
[[ $(k get vs,dr,pa,ap -n bookinfo -o name | wc -l) -eq 6 ]] ||
    fail "expected 2 VirtualServices, 2 DestinationRules, 1 PeerAuthentication and 1 AuthorizationPolicy in bookinfo"

step "kubectl apply -f examples/mistakes/ (expected to fail)"
# kubectl's message, with the object or patch it echoes back cut to {...}.
show_refusal() {
    sed -E -e 's/(Invalid value: )"\{.*\}": /\1"{...}": /' -e 's/^\{.*\}$/{...}/' "$1" | indent
}
errors=$(mktemp)
config=$(mktemp)
trap 'rm -f "$errors" "$config"' EXIT
if k apply -f examples/mistakes/ 2>"$errors"; then
    fail "the broken VirtualService was accepted; that is a bug"
fi
show_refusal "$errors"
grep -q 'unknown field "spec.http\[1\].rout"' "$errors" ||
    fail "kubectl failed, but not because of the misspelt field spec.http[1].rout"
cat <<'EOT'
  Refused by the API server while decoding it against Weir's CRD schema
  (crds/): "rout" is not a field. The webhook is only called for objects that
  pass the schema; to see what Weir's validation says about the rest, let the
  API server drop the unknown field instead:

EOT
echo "kubectl apply --validate=warn -f examples/mistakes/ (expected to fail)"
if k apply --validate=warn -f examples/mistakes/ 2>"$errors"; then
    fail "the broken VirtualService was accepted; that is a bug"
fi
show_refusal "$errors"
grep -q 'admission webhook "validate.weir.dev" denied the request' "$errors" ||
    fail "kubectl failed, but weir-webhook's validation did not refuse the VirtualService"
grep -q 'spec.http\[0\].route\[0\].weight: weights must sum to 100, got 140' "$errors" ||
    fail "weir-webhook refused the VirtualService without naming the weights"
echo "  Refused by weir-webhook (validate.weir.dev), each mistake with its field path and reason:"
sed -n 's/.*denied the request: //p' "$errors" | sed 's/; VirtualService /\nVirtualService /g' | indent
[[ $(k get virtualservice reviews -n bookinfo -o jsonpath='{.spec.http[1].route[0].weight}') == 90 ]] ||
    fail "the stored VirtualService bookinfo/reviews is not the one from examples/bookinfo"
echo "  The stored VirtualService bookinfo/reviews is still the one from examples/bookinfo."

step "creating a reviews-v1 pod in bookinfo (it comes back with Weir's sidecar)"
pod_manifest() { # pod_manifest NAME
    cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: bookinfo
  labels: {app: reviews, version: v1}
spec:
  containers:
  - name: reviews
    image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.3
    ports:
    - {name: http, containerPort: 9080}
EOF
}
injected_dry_run() {
    pod_manifest reviews-v1-dry-run | k create --dry-run=server -o json -f - 2>"$errors" |
        jq -e '.spec.initContainers[]? | select(.name == "weir-proxy")' >/dev/null
}
# The ServiceAccount admission plugin refuses pods until "default" exists, and
# the API server picks up webhook configurations asynchronously.
_wwait 60 k get serviceaccount default -n bookinfo ||
    fail "the ServiceAccount controller did not create default in bookinfo"
_wwait 60 injected_dry_run || {
    weir_log_tail weir-webhook 10
    indent <"$errors" >&2
    fail "a pod created in bookinfo (server-side dry run) does not come back injected after 60 s"
}
k delete pod reviews-v1 -n bookinfo --ignore-not-found --wait=true --timeout=60s >/dev/null ||
    fail "cannot delete the reviews-v1 pod of an earlier run"
echo "(one container, image docker.io/istio/examples-bookinfo-reviews-v1:1.20.3, labels app=reviews,version=v1)"
pod_manifest reviews-v1 | k create -f - || fail "cannot create the pod bookinfo/reviews-v1"
jsonpath='{range .spec.initContainers[*]}{.name}{"  restartPolicy="}{.restartPolicy}{"  image="}{.image}{"\n"}{end}'
echo
echo "\$ kubectl get pod reviews-v1 -n bookinfo -o jsonpath='$jsonpath'"
k get pod reviews-v1 -n bookinfo -o jsonpath="$jsonpath" | indent
echo "\$ kubectl get pod reviews-v1 -n bookinfo -o jsonpath='{.metadata.annotations.weir\.dev/status}'"
k get pod reviews-v1 -n bookinfo -o jsonpath='{.metadata.annotations.weir\.dev/status}{"\n"}' | indent
pod=$(k get pod reviews-v1 -n bookinfo -o json) || fail "cannot read the pod bookinfo/reviews-v1"
[[ $(jq -c '[.spec.initContainers[]? | [.name, .restartPolicy]]' <<<"$pod") == '[["weir-init",null],["weir-proxy","Always"]]' ]] ||
    fail "the stored pod does not have weir-init and the weir-proxy native sidecar (restartPolicy Always)"
jq -e '.metadata.annotations["weir.dev/status"] | fromjson' <<<"$pod" >/dev/null ||
    fail "the stored pod has no weir.dev/status annotation"
echo "\$ kubectl get pod reviews-v1 -n bookinfo"
k get pod reviews-v1 -n bookinfo | indent
cat <<'EOT'
  Stored as a kubelet would run it: weir-init (the iptables capture rules,
  runs once), then weir-proxy as a native sidecar (an init container with
  restartPolicy Always), then the app. It stays Pending for good: this local
  cluster has no kubelet and no scheduler, so no container ever runs here.
EOT

if ((operator_runs)); then
    step "weir-operator at work in bookinfo: status on every CR, the proxy config"
    _wwait 60 k wait --for=condition=Accepted vs,dr,pa,ap --all -n bookinfo --timeout=1s || {
        weir_log_tail weir-operator
        fail "weir-operator did not set Accepted on every CR in bookinfo within 60 s"
    }
    k get vs,dr,pa,ap -n bookinfo -o custom-columns='KIND:.kind,NAME:.metadata.name,ACCEPTED:.status.conditions[?(@.type=="Accepted")].status,MESSAGE:.status.conditions[?(@.type=="Accepted")].message'
    echo "  (The operator reads the pods too: a subset that selects none is named in a warning;"
    echo "  the only pod here is reviews-v1.)"
    echo
    _wwait 60 k get configmap weir-proxy-config -n bookinfo || {
        weir_log_tail weir-operator
        fail "weir-operator did not write the ConfigMap bookinfo/weir-proxy-config within 60 s"
    }
    k get configmap weir-proxy-config -n bookinfo -o \
        custom-columns='NAME:.metadata.name,MANAGED-BY:.metadata.labels.app\.kubernetes\.io/managed-by,REVISION:.metadata.annotations.weir\.dev/revision'
    k get configmap weir-proxy-config -n bookinfo -o json |
        jq -er '.data["proxy-config.json"] | fromjson' >"$config" ||
        fail "the ConfigMap bookinfo/weir-proxy-config holds no JSON document under proxy-config.json"
    if [[ -x $build/proxy/weir-proxy ]]; then
        echo "\$ weir-proxy --check-config proxy-config.json    # the proxy's own loader"
        "$build/proxy/weir-proxy" --check-config "$config" >"$errors" 2>&1 || {
            indent <"$errors"
            fail "weir-proxy refuses the proxy config weir-operator wrote"
        }
        sed "s|$config|proxy-config.json|" "$errors" | indent
    else
        python3 -c 'import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))' \
            docs/proxy-config.schema.json "$config" ||
            fail "the proxy config weir-operator wrote does not match docs/proxy-config.schema.json"
        echo "  proxy-config.json matches docs/proxy-config.schema.json"
    fi
    echo "Bookinfo's HTTP routes in it (VirtualService -> clusters of the DestinationRule's subsets):"
    jq -r '.services[] | select(.namespace == "bookinfo") | .host as $host | .ports[]
        | select(.http) | "  \($host):\(.number) (VirtualService \(.virtualService // "none"))",
          (.http | to_entries[] | "    http[\(.key)]: "
            + (if .value.match then "match \(.value.match | tojson) -> " else "" end)
            + (.value.route // [] | map("\(.cluster) \(.weight)%") | join(", "))
            + (.value | del(.match, .route) | if . == {} then "" else "; \(tojson)" end))' \
        "$config" || fail "cannot read the services of proxy-config.json"
    echo "  (the whole document: kubectl get configmap weir-proxy-config -n bookinfo" \
        "-o jsonpath='{.data.proxy-config\.json}' | jq)"
fi

step "done"
cat <<EOT
Shown:
  - weirctl validate: examples/bookinfo valid; examples/mistakes refused with file, line, field and reason.
  - A real control plane (kube-apiserver, etcd, kube-controller-manager $(k version -o json 2>/dev/null | jq -r .serverVersion.gitVersion)) in $WEIR_CLUSTER_DIR.
  - Weir installed with kubectl: its CRDs (printer columns in kubectl get), weir-webhook
    registered for injection and validation.
  - kubectl apply of Bookinfo's routing and security accepted; the broken VirtualService
    refused by kubectl with Weir's field path and reason.
  - A pod created in a weir-injection=enabled namespace stored with weir-init and the
    weir-proxy native sidecar.
EOT
if ((operator_runs)); then
    echo "  - weir-operator: every CR Accepted in its status, and Bookinfo's routing translated into the"
    echo "    proxy config (ConfigMap bookinfo/weir-proxy-config) that the sidecars of the namespace mount."
fi
cat <<EOT
Not here yet:
EOT
if ((!operator_runs)); then
    echo "  - weir-operator is not built yet; proxy configs are not generated."
fi
cat <<EOT
  - weir-proxy does not run in this local cluster: there is no kubelet, so pods never start.
    Its traffic shaping (routing by host, path and header, subsets, weights, timeouts,
    retries, fault injection, config reload) is proven by the proxy's own component tests
    (proxy/tests/component/), a real proxy between real clients and upstream servers.

Use the cluster:
  export WEIR_CLUSTER_DIR=$WEIR_CLUSTER_DIR
  source e2e/cluster/env.sh
  kubectl get vs,dr,pa,ap,pods -n bookinfo
  kubectl get mutatingwebhookconfigurations,validatingwebhookconfigurations
Logs: $WEIR_CLUSTER_DIR/logs/ (weir-webhook.log$( ((operator_runs)) && echo ", weir-operator.log"), kube-apiserver.log, ...)
Stop everything (weir-webhook$( ((operator_runs)) && echo ", weir-operator"), the cluster) and delete its state:
  WEIR_CLUSTER_DIR=$WEIR_CLUSTER_DIR e2e/cluster/down
EOT
