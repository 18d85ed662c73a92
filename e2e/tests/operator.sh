#!/usr/bin/env bash
# weir-operator against a real kube-apiserver and kube-controller-manager:
#
#   - with the CRDs applied, a namespace labelled weir-injection=enabled, two
#     Services whose Pods get an IP and Ready through pods/status (as a
#     kubelet would, with a node certificate) so that the real EndpointSlice
#     controller publishes them, a DestinationRule with subsets and a
#     VirtualService with weights: the ConfigMap weir-proxy-config appears,
#     labelled and annotated with the document's revision, holding a config
#     that weir-proxy --check-config accepts, with the expected weights,
#     subset endpoints and the mesh config's trust domain;
#   - every CR gets status.conditions Accepted=True with observedGeneration,
#     and Reconciled=True once its namespace's config is written;
#     a VirtualService whose weights do not add up (no webhook here to stop
#     it) gets Accepted=False, reason Invalid, and a Warning Event, while the
#     others reconcile; fixing it turns it Accepted;
#   - a RateLimitPolicy's limits reach the config as rateLimits (accepted by
#     weir-proxy --check-config), a bad one is refused by its status, and
#     deleting them empties rateLimits;
#   - a namespace whose Services and VirtualServices are exported to itself
#     only is reconciled from a scope (weir_operator_scoped_batches_total):
#     its config follows a change and the other namespace's ConfigMap is not
#     rewritten; exporting the Service reaches the other namespace;
#   - 20 VirtualService changes, each timed from the PATCH to the watch event
#     of the ConfigMap carrying it (p50/p99 printed); observedGeneration
#     follows;
#   - a ConfigMap deleted by hand is restored; a namespace that leaves the
#     mesh loses its ConfigMap and gets it back when it returns;
#   - nothing is written when nothing changed: the ConfigMap's
#     resourceVersion and the write counters stay the same across resyncs;
#   - leader election: a second operator waits; SIGKILL of the leader and the
#     second takes the Lease within the lease duration and reconciles;
#   - the API server frozen for 5 s (SIGSTOP/SIGCONT, only with
#     WEIR_E2E_ALLOW_DISRUPT=1 or on a cluster this script started): the
#     operator recovers and reconciles the next change;
#   - SIGTERM: exit 0, the Lease released, no leak reported by the sanitizer
#     builds.
#
# A cluster already up in $WEIR_CLUSTER_DIR is reused and left running;
# otherwise one is started with e2e/cluster/up and stopped at the end. The
# binary is $WEIR_BUILD/operator/weir-operator (WEIR_BUILD as e2e/run.sh
# sets it, default build-test), built first when that build has the target.
# Everything created is deleted on exit (namespaces, the Node, the CRDs if
# this script applied them, the operators).
#
# Output is TAP-like, one "ok N - ..." or "not ok N - ..." per check, then
# "N passed, M failed"; the exit status is non-zero if a check failed.
#
# Environment: WEIR_OPERATOR_TIMEOUT (30 s per wait), WEIR_OPERATOR_ARGS (extra
# flags for both operators, e.g. "--qps 100 --burst 200").
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/env.sh
. "$ROOT/e2e/cluster/env.sh"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/lib.sh
. "$ROOT/e2e/cluster/lib.sh"
DATA="$HERE/testdata/operator"

for tool in curl jq openssl python3; do
	command -v "$tool" >/dev/null || die "$tool not found (see scripts/install-deps.sh)"
done

BUILD="${WEIR_BUILD:-${WEIR_BUILD_DIR:-$ROOT/build-test}}"
TIMEOUT="${WEIR_OPERATOR_TIMEOUT:-30}"
ID="$(date +%s)-$$"
SYS="weir-op-sys-$ID"
MESH="weir-op-mesh-$ID"
PLAIN="weir-op-plain-$ID"
PRIV="weir-op-priv-$ID"
NODE="weir-op-node-$ID"
TRUST_DOMAIN="e2e.weir.test"
V1_IP=10.244.7.11
V2_IP=10.244.7.12
RATINGS_IP=10.244.7.13
WORK=$(mktemp -d)
STARTED_CLUSTER=0
STOPPED_PID=
CREATED_CRDS=()
CREATED_NODE=0
OPS=() # pids of the operators started

PASSED=0
FAILED=0
N=0
ok() {
	N=$((N + 1)) PASSED=$((PASSED + 1))
	echo "ok $N - $1"
}
skip() {
	N=$((N + 1)) PASSED=$((PASSED + 1))
	echo "ok $N - $1 # SKIP $2"
}
not_ok() {
	N=$((N + 1)) FAILED=$((FAILED + 1))
	echo "not ok $N - $1"
	shift
	local line
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/#   /'
	done
}

k() { "$KUBECTL" --request-timeout=30s "$@"; }

# retry SECONDS CMD...: until CMD succeeds; its last output in $WORK/last.out.
retry() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >"$WORK/last.out" 2>&1; do
		(($(date +%s) < deadline)) || return 1
		sleep 0.25
	done
}
last_out() { tail -n 8 "$WORK/last.out" 2>/dev/null; }
now_ms() { date +%s%3N; }

stop_operator() { # PID SIGNAL
	kill -"$2" "$1" 2>/dev/null || return 0
	local i
	for ((i = 0; i < 150; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null
}

cleanup() {
	local rc=$? pid
	# never leave an API server frozen, whatever happened above
	[[ -n $STOPPED_PID ]] && kill -CONT "$STOPPED_PID" 2>/dev/null
	for pid in "${OPS[@]}"; do
		stop_operator "$pid" TERM
	done
	if [[ -s $KUBECONFIG ]]; then
		{
			for ns in "$MESH" "$PLAIN" "$PRIV" "$SYS"; do
				k delete pods --all -n "$ns" --grace-period=0 --force --wait=false
				k delete namespace "$ns" --ignore-not-found --wait=false
			done
			((CREATED_NODE)) && k delete node "$NODE" --ignore-not-found --wait=false
			# waited for, so that the next suite finds them gone, not terminating
			((${#CREATED_CRDS[@]})) &&
				k delete crd "${CREATED_CRDS[@]}" --ignore-not-found --wait=true --timeout=60s
		} >"$WORK/cleanup.log" 2>&1
	fi
	if ((FAILED)) && [[ -d $WORK ]]; then
		for f in "$WORK"/op-*.log; do
			[[ -s $f ]] || continue
			echo "# ---- last lines of ${f##*/} ----"
			tail -n 25 "$f" | sed 's/^/#   /'
		done
	fi
	rm -rf "$WORK"
	if ((STARTED_CLUSTER)); then
		"$ROOT/e2e/cluster/down" >/dev/null || true
	fi
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0)) || exit 1
	exit "$rc"
}
trap cleanup EXIT

# ---- the cluster and the binary -------------------------------------------------
cluster_up() {
	local comp
	for comp in "${WEIR_COMPONENTS[@]}"; do
		pid_of "$comp" >/dev/null || return 1
	done
	k get --raw /readyz >/dev/null 2>&1
}
if cluster_up; then
	echo "# reusing the cluster in $WEIR_CLUSTER_DIR"
else
	"$ROOT/e2e/cluster/up" | sed 's/^/# /'
	STARTED_CLUSTER=1
fi
SERVER=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
PKI="$WEIR_CLUSTER_DIR/pki"

OPERATOR="$BUILD/operator/weir-operator"
if [[ -f $BUILD/build.ninja ]] && grep -q 'weir-operator' "$BUILD/build.ninja"; then
	cmake --build "$BUILD" --target weir-operator >"$WORK/build.log" 2>&1 ||
		{ cat "$WORK/build.log" >&2; die "building weir-operator failed"; }
fi
[[ -x $OPERATOR ]] || die "$OPERATOR not found (set WEIR_BUILD to a build with operator/)"
PROXY="$BUILD/proxy/weir-proxy"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_operator NAME: runs weir-operator as replica NAME; sets OP_PID, OP_PORT.
start_operator() {
	OP_PORT=$(free_port)
	# shellcheck disable=SC2086
	"$OPERATOR" --kubeconfig "$KUBECONFIG" --namespace "$SYS" --listen "127.0.0.1:$OP_PORT" \
		--id "$1" --resync-period 3s --log-format json ${WEIR_OPERATOR_ARGS:-} >"$WORK/op-$1.log" 2>&1 &
	OP_PID=$!
	OPS+=("$OP_PID")
}
metric() { # PORT NAME: the value of an unlabelled metric
	curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'
}
holder() {
	k get lease weir-operator -n "$SYS" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null
}

# ---- CRDs, namespaces, workloads ------------------------------------------------
desc="CRDs applied and Established; namespaces, Node, Services and ready Pods with EndpointSlices"
setup_ok=1
for f in "$ROOT"/crds/*.yaml; do
	name=$(awk '/^metadata:/{m=1} m && /^  name:/{print $2; exit}' "$f")
	# a CRD another suite is deleting would vanish under us: let it go first
	if [[ -n $(k get crd "$name" -o jsonpath='{.metadata.deletionTimestamp}' 2>/dev/null) ]]; then
		k wait --for=delete --timeout=60s "crd/$name" >/dev/null 2>&1
	fi
	if ! k get crd "$name" >/dev/null 2>&1; then
		CREATED_CRDS+=("$name")
	fi
done
if ! k apply -f "$ROOT/crds/" >"$WORK/crds.out" 2>&1 ||
	! k wait --for=condition=Established --timeout="${TIMEOUT}s" -f "$ROOT/crds/" >>"$WORK/crds.out" 2>&1; then
	not_ok "$desc" "$(cat "$WORK/crds.out")"
	exit 1
fi
cat >"$WORK/base.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: $SYS}
---
apiVersion: v1
kind: Namespace
metadata:
  name: $MESH
  labels: {weir-injection: enabled}
---
apiVersion: v1
kind: Namespace
metadata: {name: $PLAIN}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: weir-mesh-config, namespace: $SYS}
data:
  mesh: |
    trustDomain: $TRUST_DOMAIN
---
apiVersion: v1
kind: Node
metadata:
  name: $NODE
  labels: {kubernetes.io/hostname: $NODE}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: $MESH}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: $MESH}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: outside, namespace: $PLAIN}
spec:
  selector: {app: outside}
  ports: [{name: http, port: 80}]
EOF
pod() { # NAME APP VERSION
	cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: $MESH
  labels: {app: $2, version: $3}
spec:
  nodeName: $NODE
  serviceAccountName: default
  containers:
    - name: app
      image: registry.invalid/weir-e2e:never-pulled
      ports: [{containerPort: 9080}]
EOF
}
{
	pod reviews-v1 reviews v1
	pod reviews-v2 reviews v2
	pod ratings-v1 ratings v1
} >>"$WORK/base.yaml"
if ! k create -f "$WORK/base.yaml" >"$WORK/base.out" 2>&1; then
	setup_ok=0
	not_ok "$desc" "$(cat "$WORK/base.out")"
fi
CREATED_NODE=1

# the kubelet's identity for the Node, to report Pod status as one would
openssl req -newkey rsa:2048 -nodes -keyout "$WORK/node.key" -out "$WORK/node.csr" \
	-subj "/O=system:nodes/CN=system:node:$NODE" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$WORK/node.ext"
openssl x509 -req -in "$WORK/node.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
	-CAserial "$WORK/ca.srl" -days 1 -extfile "$WORK/node.ext" -out "$WORK/node.crt" 2>/dev/null
set_status() { # POD IP
	local now code
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	code=$(curl -sS -o "$WORK/status.out" -w '%{http_code}' -X PATCH \
		--cacert "$PKI/ca.crt" --cert "$WORK/node.crt" --key "$WORK/node.key" \
		-H 'Content-Type: application/strategic-merge-patch+json' \
		"$SERVER/api/v1/namespaces/$MESH/pods/$1/status" --data-binary @- <<EOF
{"status": {"phase": "Running", "podIP": "$2", "podIPs": [{"ip": "$2"}], "startTime": "$now",
  "conditions": [
    {"type": "PodScheduled", "status": "True", "lastTransitionTime": "$now"},
    {"type": "Initialized", "status": "True", "lastTransitionTime": "$now"},
    {"type": "ContainersReady", "status": "True", "lastTransitionTime": "$now"},
    {"type": "Ready", "status": "True", "lastTransitionTime": "$now"}],
  "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "started": true,
    "image": "registry.invalid/weir-e2e:never-pulled", "imageID": "",
    "state": {"running": {"startedAt": "$now"}}}]}}
EOF
	)
	echo "HTTP $code: $(head -c 300 "$WORK/status.out")"
	[[ $code == 200 ]]
}
slices_ready() {
	local got
	got=$(k get endpointslices -n "$MESH" -o json | jq -r '[.items[] | .endpoints[]? |
		select(.conditions.ready == true) | .addresses[]] | sort | join(",")')
	echo "ready endpoints: $got"
	[[ $got == "$V1_IP,$V2_IP,$RATINGS_IP" ]]
}
if ((setup_ok)); then
	for p in "reviews-v1 $V1_IP" "reviews-v2 $V2_IP" "ratings-v1 $RATINGS_IP"; do
		# shellcheck disable=SC2086
		retry 20 set_status $p || { setup_ok=0 && not_ok "$desc" "pods/status of $p:" "$(last_out)"; }
	done
fi
if ((setup_ok)); then
	if retry "$TIMEOUT" slices_ready; then
		ok "$desc"
	else
		setup_ok=0
		not_ok "$desc" "$(last_out)"
	fi
fi
((setup_ok)) || exit 1

cat >"$WORK/mesh.yaml" <<EOF
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: $MESH}
spec:
  host: reviews
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: $MESH}
spec:
  hosts: [reviews]
  http:
    - route:
        - {destination: {host: reviews, subset: v1}, weight: 80}
        - {destination: {host: reviews, subset: v2}, weight: 20}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad-weights, namespace: $MESH}
spec:
  hosts: [ratings]
  http:
    - route:
        - {destination: {host: ratings}, weight: 80}
        - {destination: {host: ratings}, weight: 30}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-reviews, namespace: $PLAIN}
spec:
  action: ALLOW
  rules: [{to: [{operation: {methods: [GET]}}]}]
EOF
k apply -f "$WORK/mesh.yaml" >"$WORK/mesh.out" 2>&1 || not_ok "apply the mesh CRs" "$(cat "$WORK/mesh.out")"

# ---- one operator ---------------------------------------------------------------
start_operator op-a
A_PID=$OP_PID A_PORT=$OP_PORT
desc="weir-operator serves /healthz, and /readyz once its caches synced; holds the Lease"
if retry "$TIMEOUT" curl -fsS --max-time 2 "http://127.0.0.1:$A_PORT/readyz" &&
	curl -fsS --max-time 2 "http://127.0.0.1:$A_PORT/healthz" >/dev/null &&
	retry "$TIMEOUT" bash -c "[[ \$('$KUBECTL' get lease weir-operator -n '$SYS' -o jsonpath='{.spec.holderIdentity}') == op-a ]]"; then
	ok "$desc"
else
	not_ok "$desc" "$(last_out)"
fi

cm_json() { k get configmap weir-proxy-config -n "$1" -o json; }
config_of() { # NS FILE
	cm_json "$1" >"$WORK/cm.json" && jq -r '.data["proxy-config.json"]' "$WORK/cm.json" >"$2"
}
config_has() { # W1 W2: the mesh namespace's config holds these weights
	config_of "$MESH" "$WORK/config.json" &&
		python3 "$DATA/opcheck.py" config "$WORK/config.json" "$MESH" "$TRUST_DOMAIN" "$1" "$2" \
			"$V1_IP" "$V2_IP"
}
desc="ConfigMap weir-proxy-config written: labels, revision annotation, weights 80/20, subset endpoints, trust domain"
if retry "$TIMEOUT" config_has 80 20; then
	rev=$(jq -r '.metadata.annotations["weir.dev/revision"]' "$WORK/cm.json")
	docrev=$(jq -r '.metadata.revision' "$WORK/config.json")
	by=$(jq -r '.metadata.labels["app.kubernetes.io/managed-by"]' "$WORK/cm.json")
	if [[ $rev == "$docrev" && $rev == sha256:* && $by == weir-operator ]]; then
		ok "$desc"
	else
		not_ok "$desc" "annotation '$rev', document '$docrev', managed-by '$by'"
	fi
else
	not_ok "$desc" "$(last_out)"
fi

desc="the proxy config passes the proxy's own loader (weir-proxy --check-config)"
if [[ -x $PROXY ]]; then
	if "$PROXY" --check-config "$WORK/config.json" >"$WORK/check.out" 2>&1; then
		ok "$desc: $(head -c 200 "$WORK/check.out")"
	else
		not_ok "$desc" "$(cat "$WORK/check.out")"
	fi
else
	skip "$desc" "no $PROXY in this build"
fi

desc="no ConfigMap in a namespace outside the mesh"
if k get configmap weir-proxy-config -n "$PLAIN" >/dev/null 2>&1; then
	not_ok "$desc" "$PLAIN has one"
else
	ok "$desc"
fi

condition() { # KIND NAME [NS]: "status reason observedGeneration generation message"
	k get "$1" "$2" -n "${3:-$MESH}" -o json | jq -r '
		(.status.conditions // [] | map(select(.type == "Accepted")) | .[0]) as $c |
		"\($c.status // "none") \($c.reason // "none") \($c.observedGeneration // "none") \(.metadata.generation) \(.status.observedGeneration // "none") \($c.message // "")"'
}
accepted() { # KIND NAME [NS]
	local c
	c=$(condition "$@")
	echo "$1/$2: $c"
	read -r st reason cgen gen sgen _ <<<"$c"
	[[ $st == True && $reason == Accepted && $cgen == "$gen" && $sgen == "$gen" ]]
}
desc="status.conditions Accepted=True with observedGeneration on the VirtualService, the DestinationRule and a policy outside the mesh"
if retry "$TIMEOUT" accepted virtualservice reviews && retry 10 accepted destinationrule reviews &&
	retry 10 accepted authorizationpolicy allow-reviews "$PLAIN"; then
	ok "$desc"
else
	not_ok "$desc" "$(last_out)"
fi

desc="invalid VirtualService: Accepted=False reason Invalid naming the field, and a Warning Event"
rejected() {
	local c
	c=$(condition virtualservice bad-weights)
	echo "$c"
	read -r st reason cgen gen _ msg <<<"$c"
	[[ $st == False && $reason == Invalid && $cgen == "$gen" && $msg == *weight* ]]
}
warned() {
	k get events -n "$MESH" --field-selector involvedObject.name=bad-weights,type=Warning -o json |
		jq -e '[.items[] | select(.reason == "Invalid")] | length > 0'
}
if retry "$TIMEOUT" rejected; then
	msg=$(last_out)
	if retry 10 warned; then
		ok "$desc: ${msg#* * * * * }"
	else
		not_ok "$desc" "no Warning Event:" "$(k get events -n "$MESH" 2>&1 | tail -5)"
	fi
else
	not_ok "$desc" "$(last_out)"
fi

# ---- latency of changes ----------------------------------------------------------
desc="20 VirtualService changes reach the ConfigMap (PATCH to watch event)"
if python3 "$DATA/opcheck.py" latency "$SERVER" "$PKI/ca.crt" "$PKI/admin.crt" "$PKI/admin.key" \
	"$MESH" reviews 20 >"$WORK/latency.out" 2>&1; then
	ok "$desc: $(grep '^p50' "$WORK/latency.out")"
	sed 's/^/# /' "$WORK/latency.out"
else
	not_ok "$desc" "$(cat "$WORK/latency.out")"
fi
desc="observedGeneration follows the VirtualService's generation after the changes"
if retry "$TIMEOUT" accepted virtualservice reviews; then
	ok "$desc ($(last_out | awk '{print $4}'))"
else
	not_ok "$desc" "$(last_out)"
fi

desc="fixing the invalid VirtualService makes it Accepted"
k patch virtualservice bad-weights -n "$MESH" --type=json \
	-p '[{"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 20}]' >/dev/null 2>&1
if retry "$TIMEOUT" accepted virtualservice bad-weights; then
	ok "$desc"
else
	not_ok "$desc" "$(last_out)"
fi

desc="Reconciled=True with observedGeneration beside Accepted on the VirtualService"
reconciled() { # KIND NAME [NS]
	local c
	c=$(k get "$1" "$2" -n "${3:-$MESH}" -o json | jq -r '
		(.status.conditions // [] | map(select(.type == "Reconciled")) | .[0]) as $c |
		"\($c.status // "none") \($c.reason // "none") \($c.observedGeneration // "none") \(.metadata.generation)"')
	echo "$1/$2 Reconciled: $c"
	read -r st reason cgen gen <<<"$c"
	[[ $st == True && $reason == Reconciled && $cgen == "$gen" ]]
}
if retry "$TIMEOUT" reconciled virtualservice reviews; then
	ok "$desc"
else
	not_ok "$desc" "$(last_out)"
fi

# ---- RateLimitPolicy (policy.weir.dev) -------------------------------------------
desc="RateLimitPolicy: its limits reach the proxy config as rateLimits, and it is Accepted and Reconciled"
k apply -f - >/dev/null <<YAML
apiVersion: policy.weir.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: reviews-limits, namespace: $MESH}
spec:
  selector:
    matchLabels: {app: reviews}
  limits:
  - name: per-user
    match: {path: {prefix: /api/}, methods: [POST]}
    descriptors: [{kind: header, header: X-User}]
    tokenBucket: {maxTokens: 20, tokensPerFill: 5, fillInterval: 250ms}
YAML
limits_written() {
	config_of "$MESH" "$WORK/config.json" &&
		jq -c '.rateLimits' "$WORK/config.json" &&
		jq -e --arg n "$MESH/reviews-limits.per-user" '.rateLimits | length == 1 and
			.[0].name == $n and .[0].direction == "inbound" and .[0].selector == {"app": "reviews"} and
			.[0].match == {"path": {"prefix": "/api/"}, "methods": ["POST"]} and
			.[0].descriptors == [{"kind": "header", "header": "x-user"}] and
			.[0].tokenBucket == {"maxTokens": 20, "tokensPerFill": 5, "fillIntervalMs": 250} and
			.[0].statusCode == 429 and .[0].maxBuckets == 10000' "$WORK/config.json" >/dev/null
}
if retry "$TIMEOUT" limits_written && retry 10 accepted ratelimitpolicy reviews-limits &&
	retry 10 reconciled ratelimitpolicy reviews-limits; then
	if [[ ! -x $PROXY ]] || "$PROXY" --check-config "$WORK/config.json" >"$WORK/check.out" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc" "weir-proxy --check-config refused it:" "$(cat "$WORK/check.out")"
	fi
else
	not_ok "$desc" "$(last_out)"
fi
desc="RateLimitPolicy with a bad bucket: Accepted=False naming the field, the others' limits stay"
k apply -f - >/dev/null <<YAML
apiVersion: policy.weir.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: bad-limits, namespace: $MESH}
spec:
  limits:
  - name: x
    tokenBucket: {maxTokens: 5, tokensPerFill: 1, fillInterval: 1us}
YAML
rl_rejected() {
	local c
	c=$(condition ratelimitpolicy bad-limits)
	echo "$c"
	read -r st reason cgen gen _ msg <<<"$c"
	[[ $st == False && $reason == Invalid && $cgen == "$gen" && $msg == *"spec.limits[0].tokenBucket.fillInterval: duration must be at least 1ms"* ]]
}
if retry "$TIMEOUT" rl_rejected && retry 10 limits_written; then
	ok "$desc"
else
	not_ok "$desc" "$(last_out)"
fi
k delete ratelimitpolicy bad-limits reviews-limits -n "$MESH" >/dev/null 2>&1
desc="deleting the RateLimitPolicy removes its limits from the proxy config"
limits_gone() { config_of "$MESH" "$WORK/config.json" && jq -e '.rateLimits == null' "$WORK/config.json"; }
if retry "$TIMEOUT" limits_gone; then
	ok "$desc"
else
	not_ok "$desc" "$(last_out)"
fi

# ---- scoped reconciles ------------------------------------------------------------
desc="a namespace that exports nothing is reconciled from a scope: its config follows its VirtualService, other configs stay untouched"
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $PRIV
  labels: {weir-injection: enabled}
---
apiVersion: v1
kind: Service
metadata:
  name: notes
  namespace: $PRIV
  annotations: {networking.istio.io/exportTo: "."}
spec:
  selector: {app: notes}
  ports: [{name: http, port: 8080}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: notes, namespace: $PRIV}
spec:
  hosts: [notes]
  exportTo: ["."]
  http:
  - route:
    - destination: {host: notes}
    timeout: 3s
YAML
timeout_is() { # MS: the notes route's timeout in the private namespace's config
	config_of "$PRIV" "$WORK/priv.json" &&
		jq -e --argjson ms "$1" --arg host "notes.$PRIV.svc.cluster.local" \
			'[.services[] | select(.host == $host) | .ports[].http[].timeoutMs] == [$ms]' \
			"$WORK/priv.json" >/dev/null
}
mesh_sees_notes() {
	config_of "$MESH" "$WORK/mesh.json" &&
		jq -e --arg host "notes.$PRIV.svc.cluster.local" \
			'[.services[] | select(.host == $host)] | length > 0' "$WORK/mesh.json" >/dev/null
}
if retry "$TIMEOUT" timeout_is 3000 && ! mesh_sees_notes; then
	mesh_rv=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
	scoped1=$(metric "$A_PORT" weir_operator_scoped_batches_total)
	k patch virtualservice notes -n "$PRIV" --type=json \
		-p '[{"op": "replace", "path": "/spec/http/0/timeout", "value": "7s"}]' >/dev/null
	if retry "$TIMEOUT" timeout_is 7000 && retry 10 reconciled virtualservice notes "$PRIV"; then
		scoped2=$(metric "$A_PORT" weir_operator_scoped_batches_total)
		mesh_rv2=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
		if ((scoped2 > scoped1)) && [[ $mesh_rv2 == "$mesh_rv" ]]; then
			ok "$desc (scoped batches $scoped1 -> $scoped2)"
		else
			not_ok "$desc" "scoped batches $scoped1 -> $scoped2; $MESH's ConfigMap $mesh_rv -> $mesh_rv2"
		fi
	else
		not_ok "$desc" "$(last_out)"
	fi
else
	not_ok "$desc" "the private namespace's config: $(last_out); $MESH sees notes: $(mesh_sees_notes && echo yes || echo no)"
fi
desc="exporting the private Service to every namespace reaches the others' configs"
k annotate service notes -n "$PRIV" --overwrite networking.istio.io/exportTo='*' >/dev/null
if retry "$TIMEOUT" mesh_sees_notes; then
	ok "$desc"
else
	not_ok "$desc" "$(last_out)"
fi

# ---- repairs -------------------------------------------------------------------
set_weights() { # W1 W2
	k patch virtualservice reviews -n "$MESH" --type=merge -p "{\"spec\":{\"http\":[{\"route\":[
		{\"destination\":{\"host\":\"reviews\",\"subset\":\"v1\"},\"weight\":$1},
		{\"destination\":{\"host\":\"reviews\",\"subset\":\"v2\"},\"weight\":$2}]}]}}" >/dev/null
}
set_weights 70 30
retry "$TIMEOUT" config_has 70 30 >/dev/null
desc="a ConfigMap deleted by hand is restored"
old_uid=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.uid}')
t0=$(now_ms)
k delete configmap weir-proxy-config -n "$MESH" >/dev/null 2>&1
restored() {
	local uid
	uid=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.uid}' 2>&1) || return 1
	[[ -n $uid && $uid != "$old_uid" ]] && config_has 70 30
}
if retry "$TIMEOUT" restored; then
	ok "$desc (in $(($(now_ms) - t0)) ms)"
else
	not_ok "$desc" "$(last_out)"
fi

desc="a namespace leaving the mesh loses its ConfigMap, and gets it back on return"
k label namespace "$MESH" weir-injection- >/dev/null
gone() { ! k get configmap weir-proxy-config -n "$MESH" >/dev/null 2>&1; }
if retry "$TIMEOUT" gone; then
	k label namespace "$MESH" weir-injection=enabled >/dev/null
	if retry "$TIMEOUT" config_has 70 30; then
		ok "$desc"
	else
		not_ok "$desc" "not restored:" "$(last_out)"
	fi
else
	k label namespace "$MESH" weir-injection=enabled >/dev/null
	not_ok "$desc" "still there after ${TIMEOUT}s"
fi

desc="nothing written when nothing changed: resourceVersion and write counters stable across resyncs"
retry "$TIMEOUT" config_has 70 30 >/dev/null
sleep 2
rv1=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
vsrv1=$(k get virtualservice reviews -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
w1=$(metric "$A_PORT" weir_operator_config_writes_total)
s1=$(metric "$A_PORT" weir_operator_status_writes_total)
r1=$(curl -fsS "http://127.0.0.1:$A_PORT/metrics" | awk '$1 == "weir_operator_reconcile_total{result=\"ok\"}" {print $2}')
sleep 7 # two resyncs at --resync-period 3s
rv2=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
vsrv2=$(k get virtualservice reviews -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
w2=$(metric "$A_PORT" weir_operator_config_writes_total)
s2=$(metric "$A_PORT" weir_operator_status_writes_total)
r2=$(curl -fsS "http://127.0.0.1:$A_PORT/metrics" | awk '$1 == "weir_operator_reconcile_total{result=\"ok\"}" {print $2}')
if [[ -n $rv1 && $rv1 == "$rv2" && $vsrv1 == "$vsrv2" && -n $w1 && $w1 == "$w2" && $s1 == "$s2" ]] &&
	((r2 > r1)); then
	ok "$desc (reconciles $r1 -> $r2, config writes $w1, status writes $s1)"
else
	not_ok "$desc" "ConfigMap rv $rv1 -> $rv2, VirtualService rv $vsrv1 -> $vsrv2" \
		"config writes $w1 -> $w2, status writes $s1 -> $s2, reconciles $r1 -> $r2"
fi

desc="/metrics: reconcile counts, duration histogram, queue depth, watch restarts, config sizes"
curl -fsS "http://127.0.0.1:$A_PORT/metrics" >"$WORK/metrics.txt" 2>&1
missing=()
for m in 'weir_operator_reconcile_total{result="ok"}' weir_operator_reconcile_duration_seconds_count \
	weir_operator_queue_depth 'weir_operator_watch_restarts_total{informer="virtualservices"}' \
	"weir_operator_config_bytes{namespace=\"$MESH\"}" weir_operator_is_leader; do
	grep -qF "$m " "$WORK/metrics.txt" || missing+=("$m")
done
if ((${#missing[@]} == 0)) && [[ $(metric "$A_PORT" weir_operator_is_leader) == 1 ]]; then
	ok "$desc"
else
	not_ok "$desc" "missing: ${missing[*]}" "$(head -40 "$WORK/metrics.txt")"
fi

desc="logs are JSON lines"
if jq -e . "$WORK/op-op-a.log" >/dev/null 2>&1; then
	ok "$desc ($(wc -l <"$WORK/op-op-a.log") lines)"
else
	not_ok "$desc" "$(head -5 "$WORK/op-op-a.log")"
fi

# ---- leader election ---------------------------------------------------------------
start_operator op-b
B_PID=$OP_PID B_PORT=$OP_PORT
desc="a second replica waits: ready, not leading, the Lease stays with op-a"
if retry "$TIMEOUT" curl -fsS --max-time 2 "http://127.0.0.1:$B_PORT/readyz"; then
	sleep 3
	if [[ $(metric "$B_PORT" weir_operator_is_leader) == 0 && $(holder) == op-a &&
		$(metric "$A_PORT" weir_operator_is_leader) == 1 ]]; then
		ok "$desc"
	else
		not_ok "$desc" "holder $(holder), b leading $(metric "$B_PORT" weir_operator_is_leader)"
	fi
else
	not_ok "$desc" "$(last_out)"
fi

desc="SIGKILL of the leader: op-b takes the Lease within the lease duration and reconciles"
t0=$(now_ms)
kill -KILL "$A_PID" 2>/dev/null
wait "$A_PID" 2>/dev/null
if retry 25 bash -c "[[ \$('$KUBECTL' get lease weir-operator -n '$SYS' -o jsonpath='{.spec.holderIdentity}') == op-b ]]"; then
	took=$(($(now_ms) - t0))
	set_weights 60 40
	t1=$(now_ms)
	# the lease duration (15 s) runs from the last renewal op-b saw, which it
	# sees at its next try, up to a jittered retry period (2.4 s) after it
	if ((took <= 19000)) && retry "$TIMEOUT" config_has 60 40; then
		ok "$desc (takeover in $took ms, next change in $(($(now_ms) - t1)) ms)"
	else
		not_ok "$desc" "takeover in $took ms" "$(last_out)"
	fi
else
	not_ok "$desc" "holder is '$(holder)' after 25 s"
fi

# ---- the API server frozen -------------------------------------------------------------
desc="the API server frozen for 5 s (SIGSTOP): the operator recovers and reconciles the next change"
if ((STARTED_CLUSTER)) || [[ ${WEIR_E2E_ALLOW_DISRUPT:-0} == 1 ]]; then
	if APISERVER_PID=$(pid_of kube-apiserver); then
		STOPPED_PID=$APISERVER_PID
		kill -STOP "$APISERVER_PID"
		sleep 5
		kill -CONT "$APISERVER_PID"
		STOPPED_PID=
		retry "$TIMEOUT" k get --raw /readyz >/dev/null
		t1=$(now_ms)
		if retry "$TIMEOUT" set_weights 55 45 && retry 60 config_has 55 45; then
			ok "$desc (change applied $(($(now_ms) - t1)) ms after the API server answered again)"
		else
			not_ok "$desc" "$(last_out)"
		fi
	else
		not_ok "$desc" "no kube-apiserver pid in $WEIR_PIDS"
	fi
else
	skip "$desc" "the cluster is shared (not started here); set WEIR_E2E_ALLOW_DISRUPT=1 to run it"
fi

# ---- graceful stop ---------------------------------------------------------------------
desc="SIGTERM: op-b exits 0, releases the Lease, and no leak is reported"
kill -TERM "$B_PID"
rc=0
for ((i = 0; i < 150; i++)); do
	kill -0 "$B_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$B_PID" 2>/dev/null; then
	not_ok "$desc" "still running 15 s after SIGTERM"
else
	wait "$B_PID"
	rc=$?
	h=$(holder)
	if ((rc == 0)) && [[ -z $h ]] && ! grep -q 'LeakSanitizer\|AddressSanitizer\|runtime error' "$WORK"/op-*.log; then
		ok "$desc"
	else
		not_ok "$desc" "exit $rc, holder '$h'" "$(grep -h -A5 'Sanitizer\|runtime error' "$WORK"/op-*.log | head -20)"
	fi
fi
OPS=()
