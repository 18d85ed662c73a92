#!/usr/bin/env bash
# weir-operator under faults, against the real control plane of e2e/cluster:
#
#   a. kube-apiserver restarted under a running operator: a VirtualService
#      change right before SIGTERM (the API server really exits), the API
#      server started again with the flags `up` recorded, a DestinationRule
#      change right after. The operator's watches resume or relist, the
#      ConfigMap carries both changes, statuses follow the generations, the
#      write counter went up by exactly 2 per mesh namespace (one per new
#      content) and stays there across resyncs; a freshly started operator,
#      after the ConfigMap is deleted, writes byte for byte the same proxy
#      config.
#   b. SIGKILL of the operator in the middle of 50 VirtualService applies, a
#      new replica started during the burst: the ConfigMap carries the last
#      apply, the VirtualService's status the last generation, and one more
#      restart with nothing changed writes nothing (ConfigMap and
#      VirtualService resourceVersions unchanged, write counters 0).
#   c. 429 Too Many Requests for real: API Priority and Fairness with a
#      priority level of 0 seats (one request at a time, the rest rejected)
#      for the operator's own user, and that one seat held by a request
#      stuck in a slow admission webhook. Every list the operator sends is
#      refused; each informer retries with exponential backoff (3 to 5
#      attempts in the first ~10 s, not a tight loop), nothing is written,
#      /readyz stays 503; once the limit is lifted it converges.
#
# Operators run with a short lease (6 s) and resync (3 s) so that takeovers
# and no-write checks are quick. A cluster already up in $WEIR_CLUSTER_DIR is
# reused; (a) restarts its API server only with WEIR_E2E_ALLOW_DISRUPT=1 (as
# e2e/run.sh sets) or on a cluster this script started, and is reported as
# skipped otherwise. Everything created is deleted on exit.
#
# Output is TAP-like; the last line is "N passed, M failed, K skipped"; the
# exit status is non-zero if a check failed.
#
# Environment: WEIR_BUILD (as e2e/run.sh sets it), WEIR_OPERATOR_TIMEOUT (30 s
# per wait).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/env.sh
. "$ROOT/e2e/cluster/env.sh"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/lib.sh
. "$ROOT/e2e/cluster/lib.sh"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/install/lib.sh
. "$ROOT/e2e/install/lib.sh"

for tool in curl jq openssl python3 setsid; do
	command -v "$tool" >/dev/null || die "$tool not found (see scripts/install-deps.sh)"
done

BUILD="${WEIR_BUILD:-${WEIR_BUILD_DIR:-$ROOT/build-test}}"
OPERATOR="$BUILD/operator/weir-operator"
TIMEOUT="${WEIR_OPERATOR_TIMEOUT:-30}"
ID="$(date +%s)-$$"
SYS="weir-fx-sys-$ID"
MESH="weir-fx-mesh-$ID"
BLOCK="weir-fx-block-$ID"
LIMITED_USER="weir-fx-operator-$ID"
APF="weir-fx-$ID"
TRUST_DOMAIN="faults.weir.test"
HOST="reviews.$MESH.svc.cluster.local"
OP_FLAGS=(--namespace "$SYS" --listen 127.0.0.1:0 --log-format json --resync-period 3s
	--lease-duration 6s --renew-deadline 4s --retry-period 1s)
WORK=$(mktemp -d)
STARTED_CLUSTER=0
CREATED_CRDS=()
PROCS=()     # weir_proc names of the operators started
SLOW_PID=""  # the slow webhook (python)
BLOCKER_PID="" # the request stuck in it

PASSED=0 FAILED=0 SKIPPED=0 N=0
ok() {
	N=$((N + 1)) PASSED=$((PASSED + 1))
	echo "ok $N - $1"
}
skip() {
	N=$((N + 1)) SKIPPED=$((SKIPPED + 1))
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
now_ms() { date +%s%3N; }

# retry SECONDS CMD...: until CMD succeeds; its last output in $WORK/last.out.
retry() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >"$WORK/last.out" 2>&1; do
		(($(date +%s) < deadline)) || return 1
		sleep 0.25
	done
}
last_out() { tail -n 8 "$WORK/last.out" 2>/dev/null || true; }

cleanup() {
	local rc=$? name
	set +e
	for name in "${PROCS[@]}"; do
		weir_proc_stop "$name" 10
	done
	[[ -n $BLOCKER_PID ]] && kill "$BLOCKER_PID" 2>/dev/null
	[[ -n $SLOW_PID ]] && kill "$SLOW_PID" 2>/dev/null
	if [[ -s $KUBECONFIG ]] && k get --raw /readyz >/dev/null 2>&1; then
		{
			k delete flowschema "$APF" --ignore-not-found
			k delete prioritylevelconfiguration "$APF" --ignore-not-found
			k delete validatingwebhookconfiguration "$APF" --ignore-not-found
			k delete clusterrolebinding "$APF" --ignore-not-found
			for ns in "$MESH" "$BLOCK" "$SYS"; do
				k delete namespace "$ns" --ignore-not-found --wait=false
			done
			((${#CREATED_CRDS[@]})) &&
				k delete crd "${CREATED_CRDS[@]}" --ignore-not-found --wait=true --timeout=60s
		} >"$WORK/cleanup.log" 2>&1
	fi
	if ((FAILED)); then
		for name in "${PROCS[@]}"; do
			[[ -s $WEIR_EXTRA_LOGS/$name.log ]] || continue
			echo "# ---- last lines of $name.log ----"
			tail -n 20 "$WEIR_EXTRA_LOGS/$name.log" | sed 's/^/#   /'
		done
	fi
	rm -rf "$WORK"
	if ((STARTED_CLUSTER)); then
		"$ROOT/e2e/cluster/down" >/dev/null || true
	fi
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	((FAILED == 0)) || exit 1
	exit "$rc"
}
trap cleanup EXIT

# ---- the cluster and the binary ---------------------------------------------
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
DISRUPT=0
((STARTED_CLUSTER)) || [[ ${WEIR_E2E_ALLOW_DISRUPT:-0} == 1 ]] && DISRUPT=1
SERVER=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
PKI="$WEIR_CLUSTER_DIR/pki"

if [[ -f $BUILD/build.ninja ]] && grep -q 'weir-operator' "$BUILD/build.ninja"; then
	cmake --build "$BUILD" --target weir-operator >"$WORK/build.log" 2>&1 ||
		{ cat "$WORK/build.log" >&2; die "building weir-operator failed"; }
fi
[[ -x $OPERATOR ]] || die "$OPERATOR not found (set WEIR_BUILD to a build with operator/)"

# ---- operators ----------------------------------------------------------------
# op_start NAME [KUBECONFIG]: weir-operator as replica NAME (its --id), with its
# log and PID file where e2e/cluster/down finds them; sets OP_URL.
op_start() {
	local name=$1 kc=${2:-$KUBECONFIG} port
	PROCS+=("$name")
	weir_proc_start "$name" "$OPERATOR" --kubeconfig "$kc" --id "$name" "${OP_FLAGS[@]}"
	port=$(weir_log_port "$name" "weir-operator starting")
	OP_URL="http://127.0.0.1:$port"
}
# metric URL NAME: the value of one series (NAME with its labels), or "none".
metric() {
	local v
	v=$(curl -fsS --max-time 5 "$1/metrics" | awk -v n="$2" '$1 == n {print $2}')
	echo "${v:-none}"
}
holder() { k get lease weir-operator -n "$SYS" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
leads() { [[ $(holder) == "$1" ]]; }
# idle URL: leading, the queue empty, and at least one batch reconciled.
idle() {
	local m lead depth ok
	m=$(curl -fsS --max-time 5 "$1/metrics") || return 1
	lead=$(awk '$1 == "weir_operator_is_leader" {print $2}' <<<"$m")
	depth=$(awk '$1 == "weir_operator_queue_depth" {print $2}' <<<"$m")
	ok=$(awk '$1 == "weir_operator_reconcile_total{result=\"ok\"}" {print $2}' <<<"$m")
	echo "leader $lead, queue $depth, reconciles ok $ok"
	[[ $lead == 1 && $depth == 0 && ${ok:-0} -ge 1 ]]
}

# ---- what the ConfigMap and the statuses say ----------------------------------
cm_json() { k get configmap weir-proxy-config -n "$MESH" -o json; }
# route: "W1 W2 TIMEOUT_MS SUBSETS" of reviews' HTTP route in the proxy config,
# SUBSETS the comma-joined subset names of reviews' clusters.
route() {
	cm_json | jq -r --arg h "$HOST" '.data["proxy-config.json"] | fromjson |
		([.services[] | select(.host == $h) | .ports[] | select(.number == 9080) | .http[0]][0]) as $r |
		([.clusters[] | select(.service == $h) | .subset // empty] | sort | join(",")) as $s |
		"\($r.route[0].weight // "none") \($r.route[1].weight // "none") \($r.timeoutMs // 0) \($s)"'
}
route_is() { # WANT
	local got
	got=$(route) || return 1
	echo "route: $got (want $1)"
	[[ $got == "$1" ]]
}
# accepted KIND NAME: Accepted=True, reason Accepted, for the object's current
# generation (conditions looked up by type).
accepted() {
	local got
	got=$(k get "$1" "$2" -n "$MESH" -o json | jq -r '
		(.status.conditions // [] | map(select(.type == "Accepted")) | .[0]) as $c |
		"\($c.status // "none") \($c.reason // "none") \($c.observedGeneration // "none") \(.metadata.generation)"')
	echo "$1/$2 Accepted: $got"
	read -r st reason cgen gen <<<"$got"
	[[ $st == True && $reason == Accepted && $cgen == "$gen" ]]
}
vs_yaml() { # W1 W2 TIMEOUT
	cat <<EOF
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: $MESH}
spec:
  hosts: [reviews]
  http:
    - route:
        - {destination: {host: reviews, subset: v1}, weight: $1}
        - {destination: {host: reviews, subset: v2}, weight: $2}
      timeout: $3
EOF
}
dr_yaml() { # SUBSET...
	cat <<EOF
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: $MESH}
spec:
  host: reviews
  subsets:
EOF
	local s
	for s in "$@"; do
		echo "    - {name: $s, labels: {version: $s}}"
	done
}

# ---- CRDs, namespaces, objects ----------------------------------------------------
desc="set-up: CRDs Established, mesh namespace, Service, DestinationRule, VirtualService"
for f in "$ROOT"/crds/*.yaml; do
	name=$(awk '/^metadata:/{m=1} m && /^  name:/{print $2; exit}' "$f")
	if [[ -n $(k get crd "$name" -o jsonpath='{.metadata.deletionTimestamp}' 2>/dev/null) ]]; then
		k wait --for=delete --timeout=60s "crd/$name" >/dev/null 2>&1 || true
	fi
	k get crd "$name" >/dev/null 2>&1 || CREATED_CRDS+=("$name")
done
# Every Service in the cluster is in every mesh namespace's config, so one in
# a namespace still being deleted (an earlier suite's) would change ours
# during the write counts below: let those go first.
terminating() {
	local n
	n=$(k get namespaces -o json | jq -r '[.items[] | select(.status.phase == "Terminating") | .metadata.name] | join(" ")')
	echo "terminating: ${n:-none}"
	[[ -z $n ]]
}
retry 90 terminating || echo "# still terminating after 90 s: $(last_out)"
{
	cat <<EOF
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
kind: ConfigMap
metadata: {name: weir-mesh-config, namespace: $SYS}
data:
  mesh: |
    trustDomain: $TRUST_DOMAIN
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: $MESH}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
EOF
	dr_yaml v1 v2
	echo ---
	vs_yaml 80 20 1s
} >"$WORK/base.yaml"
if k apply -f "$ROOT/crds/" >"$WORK/setup.out" 2>&1 &&
	k wait --for=condition=Established --timeout="${TIMEOUT}s" -f "$ROOT/crds/" >>"$WORK/setup.out" 2>&1 &&
	k apply -f "$WORK/base.yaml" >>"$WORK/setup.out" 2>&1; then
	ok "$desc"
else
	not_ok "$desc" "$(cat "$WORK/setup.out")"
	exit 1
fi

# ---- a. the API server restarted under a running operator -------------------------
op_start weir-fx-a
A_URL=$OP_URL
desc="operator a reconciles the initial objects: weights 80/20, timeout 1000 ms, subsets v1,v2"
if retry "$TIMEOUT" leads weir-fx-a && retry "$TIMEOUT" route_is "80 20 1000 v1,v2" &&
	retry "$TIMEOUT" accepted virtualservice reviews && retry "$TIMEOUT" idle "$A_URL"; then
	ok "$desc"
else
	not_ok "$desc" "$(last_out)"
fi

desc="kube-apiserver restarted (SIGTERM, exited, same flags) between two changes"
if ((DISRUPT)); then
	restarts_of() { # URL: watch restarts + relists of all informers
		curl -fsS --max-time 5 "$1/metrics" |
			awk '$1 ~ /^weir_operator_(watch_restarts|informer_relists)_total\{/ {s += $2} END {print s + 0}'
	}
	w0=$(metric "$A_URL" weir_operator_config_writes_total)
	# The VirtualService and DestinationRule are visible in every mesh
	# namespace (exportTo defaults to "*"), so each change rewrites the
	# config of every namespace the operator manages: ours, and any other
	# mesh namespace the cluster holds.
	managed=$(k get configmaps -A -l app.kubernetes.io/managed-by=weir-operator -o name | wc -l)
	r0=$(restarts_of "$A_URL")
	vs_gen0=$(k get virtualservice reviews -n "$MESH" -o jsonpath='{.metadata.generation}')
	dr_gen0=$(k get destinationrule reviews -n "$MESH" -o jsonpath='{.metadata.generation}')
	vs_yaml 30 70 2.5s | k apply -f - >/dev/null
	# right away: the operator may or may not have written the change yet
	apiserver=$(pid_of kube-apiserver)
	kill -TERM "$apiserver"
	t0=$(now_ms)
	for ((i = 0; i < 300; i++)); do
		alive "$apiserver" || break
		sleep 0.1
	done
	if alive "$apiserver"; then
		not_ok "$desc" "kube-apiserver (pid $apiserver) still runs 30 s after SIGTERM"
		exit 1
	fi
	down_ms=$(($(now_ms) - t0))
	sleep 5 # the operator's renew deadline (4 s) passes: it stops leading
	rm -f "$WEIR_PIDS/kube-apiserver.pid"
	start_component kube-apiserver
	if ! retry 60 k get --raw /readyz; then
		not_ok "$desc" "kube-apiserver did not come back:" "$(last_out)" "$(log_tail kube-apiserver 20 2>&1)"
		exit 1
	fi
	up_ms=$(($(now_ms) - t0))
	dr_yaml v1 v2 v3 | k apply -f - >/dev/null
	ok "$desc (exited $down_ms ms after SIGTERM, ready again after $up_ms ms)"

	desc="after the restart: the ConfigMap carries both changes (30/70, 2500 ms, subsets v1,v2,v3)"
	if retry "$TIMEOUT" route_is "30 70 2500 v1,v2,v3"; then
		ok "$desc"
	else
		not_ok "$desc" "$(last_out)"
	fi
	desc="statuses: Accepted for the new generations (VirtualService $((vs_gen0 + 1)), DestinationRule $((dr_gen0 + 1)))"
	if retry "$TIMEOUT" accepted virtualservice reviews && retry "$TIMEOUT" accepted destinationrule reviews &&
		[[ $(k get virtualservice reviews -n "$MESH" -o jsonpath='{.metadata.generation}') == $((vs_gen0 + 1)) &&
		$(k get destinationrule reviews -n "$MESH" -o jsonpath='{.metadata.generation}') == $((dr_gen0 + 1)) ]]; then
		ok "$desc"
	else
		not_ok "$desc" "$(last_out)"
	fi
	desc="watches resumed or relisted, the Lease is held again"
	r1=$(restarts_of "$A_URL")
	if ((r1 > r0)) && retry "$TIMEOUT" leads weir-fx-a; then
		ok "$desc (watch restarts + relists $r0 -> $r1)"
	else
		not_ok "$desc" "watch restarts + relists $r0 -> $r1, holder '$(holder)'"
	fi
	desc="exactly 2 ConfigMap writes per mesh namespace ($managed) for the 2 changes, none more across resyncs"
	retry "$TIMEOUT" idle "$A_URL" || true
	w1=$(metric "$A_URL" weir_operator_config_writes_total)
	rv1=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
	sleep 7 # two resyncs
	w2=$(metric "$A_URL" weir_operator_config_writes_total)
	rv2=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
	if [[ $w0 != none ]] && ((w1 == w0 + 2 * managed && w2 == w1)) && [[ $rv1 == "$rv2" ]]; then
		ok "$desc (weir_operator_config_writes_total $w0 -> $w1 -> $w2)"
	else
		not_ok "$desc" "weir_operator_config_writes_total $w0 -> $w1 -> $w2 (want $w0 -> $((w0 + 2 * managed)) -> $((w0 + 2 * managed)))" \
			"ConfigMap resourceVersion $rv1 -> $rv2"
	fi
else
	skip "$desc" "the cluster is shared (not started here); set WEIR_E2E_ALLOW_DISRUPT=1 to run it"
	vs_yaml 30 70 2.5s | k apply -f - >/dev/null
	dr_yaml v1 v2 v3 | k apply -f - >/dev/null
	retry "$TIMEOUT" route_is "30 70 2500 v1,v2,v3" || true
fi

desc="a fresh operator, the ConfigMap deleted, writes the same proxy config byte for byte, in 1 write"
cm_json | jq -r '.data["proxy-config.json"]' >"$WORK/config-a.json"
rev_a=$(cm_json | jq -r '.metadata.annotations["weir.dev/revision"]')
weir_proc_stop weir-fx-a 15
k delete configmap weir-proxy-config -n "$MESH" >/dev/null
op_start weir-fx-b
B_URL=$OP_URL
if retry "$TIMEOUT" route_is "30 70 2500 v1,v2,v3" && retry "$TIMEOUT" idle "$B_URL"; then
	cm_json | jq -r '.data["proxy-config.json"]' >"$WORK/config-b.json"
	rev_b=$(cm_json | jq -r '.metadata.annotations["weir.dev/revision"]')
	wb=$(metric "$B_URL" weir_operator_config_writes_total)
	if cmp -s "$WORK/config-a.json" "$WORK/config-b.json" && [[ $rev_a == "$rev_b" && $rev_a == sha256:* ]] &&
		[[ $wb == 1 ]]; then
		ok "$desc ($(wc -c <"$WORK/config-b.json") bytes, $rev_b)"
	else
		not_ok "$desc" "revision $rev_a vs $rev_b, writes $wb (want 1)" \
			"$(diff <(jq -S . "$WORK/config-a.json") <(jq -S . "$WORK/config-b.json") | head -20)"
	fi
else
	not_ok "$desc" "$(last_out)"
fi

# ---- b. SIGKILL in the middle of a burst -------------------------------------------
desc="50 VirtualService applies; operator b killed (SIGKILL) after the 20th, c started after the 35th"
gen0=$(k get virtualservice reviews -n "$MESH" -o jsonpath='{.metadata.generation}')
burst_ok=1
t0=$(now_ms)
for ((i = 1; i <= 50; i++)); do
	vs_yaml $((i + 25)) $((75 - i)) "${i}s" | k apply -f - >/dev/null || burst_ok=0
	if ((i == 20)); then
		if pid=$(weir_proc_pid weir-fx-b); then
			kill -KILL "$pid"
			{ wait "$pid" || true; } 2>/dev/null # our child: reaped here, quietly
		fi
	elif ((i == 35)); then
		op_start weir-fx-c
		C_URL=$OP_URL
	fi
done
burst_ms=$(($(now_ms) - t0))
gen50=$(k get virtualservice reviews -n "$MESH" -o jsonpath='{.metadata.generation}')
if ((burst_ok)) && ! weir_proc_pid weir-fx-b >/dev/null && ((gen50 == gen0 + 50)); then
	ok "$desc (in $burst_ms ms; generation $gen0 -> $gen50)"
else
	not_ok "$desc" "applies ok: $burst_ok, generation $gen0 -> $gen50 (want +50)," \
		"b still running: $(weir_proc_pid weir-fx-b || echo no)"
fi
desc="operator c takes the Lease; the ConfigMap carries the last apply (75/25, 50000 ms)"
if retry "$TIMEOUT" leads weir-fx-c && retry "$TIMEOUT" route_is "75 25 50000 v1,v2,v3"; then
	ok "$desc"
else
	not_ok "$desc" "holder '$(holder)'" "$(last_out)"
fi
desc="the VirtualService's Accepted condition has observedGeneration $gen50"
if retry "$TIMEOUT" accepted virtualservice reviews && [[ $(last_out) == *" $gen50 $gen50" ]]; then
	ok "$desc"
else
	not_ok "$desc" "$(last_out)"
fi

desc="one more restart with nothing changed writes nothing: resourceVersions kept, write counters 0"
retry "$TIMEOUT" idle "$C_URL" || true
cm_rv=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
vs_rv=$(k get virtualservice reviews -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
dr_rv=$(k get destinationrule reviews -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
weir_proc_stop weir-fx-c 15 # SIGTERM releases the Lease
op_start weir-fx-d
D_URL=$OP_URL
if retry "$TIMEOUT" leads weir-fx-d && retry "$TIMEOUT" idle "$D_URL"; then
	sleep 4 # a resync more
	cw=$(metric "$D_URL" weir_operator_config_writes_total)
	sw=$(metric "$D_URL" weir_operator_status_writes_total)
	rec=$(metric "$D_URL" 'weir_operator_reconcile_total{result="ok"}')
	cm_rv2=$(k get configmap weir-proxy-config -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
	vs_rv2=$(k get virtualservice reviews -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
	dr_rv2=$(k get destinationrule reviews -n "$MESH" -o jsonpath='{.metadata.resourceVersion}')
	if [[ $cw == 0 && $sw == 0 && $cm_rv == "$cm_rv2" && $vs_rv == "$vs_rv2" && $dr_rv == "$dr_rv2" ]]; then
		ok "$desc ($rec reconciles)"
	else
		not_ok "$desc" "config writes $cw, status writes $sw (want 0, 0) after $rec reconciles" \
			"resourceVersions: ConfigMap $cm_rv -> $cm_rv2, VirtualService $vs_rv -> $vs_rv2," \
			"DestinationRule $dr_rv -> $dr_rv2"
	fi
else
	not_ok "$desc" "holder '$(holder)'" "$(last_out)"
fi
weir_proc_stop weir-fx-d 15

# ---- c. 429 from API Priority and Fairness ----------------------------------------------
# The operator's own user: a client certificate from the cluster CA, bound to
# cluster-admin (RBAC is not what this checks).
openssl req -newkey rsa:2048 -nodes -keyout "$WORK/op.key" -out "$WORK/op.csr" \
	-subj "/CN=$LIMITED_USER" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$WORK/op.ext"
openssl x509 -req -in "$WORK/op.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
	-CAserial "$WORK/ca.srl" -days 1 -extfile "$WORK/op.ext" -out "$WORK/op.crt" 2>/dev/null
LKC="$WORK/limited.kubeconfig"
{
	k config --kubeconfig="$LKC" set-cluster e2e --server="$SERVER" \
		--certificate-authority="$PKI/ca.crt" --embed-certs=true
	k config --kubeconfig="$LKC" set-credentials op --client-certificate="$WORK/op.crt" \
		--client-key="$WORK/op.key" --embed-certs=true
	k config --kubeconfig="$LKC" set-context e2e --cluster=e2e --user=op
	k config --kubeconfig="$LKC" use-context e2e
} >/dev/null
# The slow webhook: answers every AdmissionReview "allowed" after 12 s, so
# that a request sent to it holds the priority level's only seat that long.
weir_serving_cert "$WORK/slow-tls" weir-fx-slow
cat >"$WORK/slow.py" <<'EOF'
import http.server, json, ssl, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        open(sys.argv[2], "a").write("called\n")
        time.sleep(12)
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": {"uid": review["request"]["uid"], "allowed": True}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1] + "/tls.crt", sys.argv[1] + "/tls.key")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
python3 "$WORK/slow.py" "$WORK/slow-tls" "$WORK/slow.calls" >"$WORK/slow.port" 2>"$WORK/slow.err" &
SLOW_PID=$!
retry 10 test -s "$WORK/slow.port" || true
SLOW_PORT=$(head -1 "$WORK/slow.port")
cat >"$WORK/apf.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: $BLOCK}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: $APF}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: $LIMITED_USER}]
---
# 0 seats, no borrowing: the API server runs one request of this level at a
# time (it never starves one entirely) and rejects the others with 429.
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: $APF}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 0
    lendablePercent: 0
    borrowingLimitPercent: 0
    limitResponse: {type: Reject}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: $APF}
spec:
  priorityLevelConfiguration: {name: $APF}
  matchingPrecedence: 500
  distinguisherMethod: {type: ByUser}
  rules:
    - subjects: [{kind: User, user: {name: $LIMITED_USER}}]
      resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], clusterScope: true, namespaces: ["*"]}]
      nonResourceRules: [{verbs: ["*"], nonResourceURLs: ["*"]}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: $APF}
webhooks:
  - name: slow.faults.weir.dev
    clientConfig:
      url: https://127.0.0.1:$SLOW_PORT/slow
      caBundle: $(base64 -w0 <"$WORK/slow-tls/ca.crt")
    rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [configmaps], scope: Namespaced}]
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $BLOCK}}
    failurePolicy: Ignore
    sideEffects: None
    admissionReviewVersions: [v1]
    timeoutSeconds: 20
EOF
rejected() { # the API server's count of requests of our FlowSchema rejected as over the limit
	k get --raw /metrics | awk -v fs="flow_schema=\"$APF\"" '
		/^apiserver_flowcontrol_rejected_requests_total\{/ && index($1, fs) {s += $2} END {print s + 0}'
}
# classified: the API server's APF configuration controller has picked the
# FlowSchema up: a request of the user comes back marked with its UID.
classified() {
	local uid
	uid=$(k get flowschema "$APF" -o jsonpath='{.metadata.uid}') || return 1
	curl -sS -D - -o /dev/null --max-time 5 --cacert "$PKI/ca.crt" --cert "$WORK/op.crt" \
		--key "$WORK/op.key" "$SERVER/version" | tr -d '\r' |
		grep -qix "x-kubernetes-pf-flowschema-uid: $uid"
}
desc="API Priority and Fairness: 0 seats for the operator's user, the one request let through stuck for 12 s"
if [[ -n $SLOW_PORT ]] && k apply -f "$WORK/apf.yaml" >"$WORK/apf.out" 2>&1 &&
	retry 20 bash -c "[[ \$('$KUBECTL' get flowschema '$APF' -o jsonpath='{.status.conditions[?(@.type==\"Dangling\")].status}') == False ]]" &&
	retry 30 classified; then
	k --kubeconfig="$LKC" create configmap blocker -n "$BLOCK" >"$WORK/blocker.out" 2>&1 &
	BLOCKER_PID=$!
	if retry 10 test -s "$WORK/slow.calls"; then
		t_block=$(now_ms)
		# a second request of the same user now: 429
		# (curl: kubectl would retry a 429 itself)
		code=$(curl -sS -o "$WORK/probe.out" -w '%{http_code}' --max-time 10 --cacert "$PKI/ca.crt" \
			--cert "$WORK/op.crt" --key "$WORK/op.key" "$SERVER/api/v1/namespaces/$MESH" || true)
		if [[ $code == 429 ]]; then
			ok "$desc (a probe request: HTTP 429, $(head -c 100 "$WORK/probe.out"))"
		else
			not_ok "$desc" "a request of $LIMITED_USER got HTTP $code, not 429:" "$(head -c 300 "$WORK/probe.out")"
		fi
	else
		not_ok "$desc" "the slow webhook was never called:" "$(cat "$WORK/blocker.out" "$WORK/slow.err")"
	fi
else
	not_ok "$desc" "$(cat "$WORK/apf.out" 2>/dev/null)" "$(last_out)"
fi

vs_yaml 11 89 3s | k apply -f - >/dev/null
rej0=$(rejected)
op_start weir-fx-e "$LKC"
E_URL=$OP_URL
t_start=$(now_ms)
desc="every list refused (429): each informer backs off exponentially, nothing written, /readyz 503"
# until 1 s before the seat is freed
sleep_ms=$((12000 - 1000 - ($(now_ms) - t_block)))
((sleep_ms > 0)) && sleep "$((sleep_ms / 1000)).$(printf '%03d' $((sleep_ms % 1000)))"
window_ms=$(($(now_ms) - t_start))
curl -fsS --max-time 5 "$E_URL/metrics" >"$WORK/e-metrics.txt" || true
readyz=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$E_URL/readyz" || true)
rej1=$(rejected)
mapfile -t errs < <(awk '$1 ~ /^weir_operator_informer_errors_total\{/ {print $1, $2}' "$WORK/e-metrics.txt")
bad=()
for e in "${errs[@]}"; do
	n=${e##* }
	((n >= 3 && n <= 5)) || bad+=("$e")
done
ew=$(awk '$1 == "weir_operator_config_writes_total" {print $2}' "$WORK/e-metrics.txt")
if ((${#errs[@]} == 13 && ${#bad[@]} == 0)) && [[ $readyz == 503 && $ew == 0 ]] &&
	((rej1 - rej0 >= 39)) && grep -Eq ': 429[: ]' "$WEIR_EXTRA_LOGS/weir-fx-e.log"; then
	range=$(printf '%s\n' "${errs[@]##* }" | sort -n | sed -n '1p;$p' | paste -sd' ')
	ok "$desc (in $window_ms ms: $((rej1 - rej0)) rejected by the API server; failed lists per informer: ${range% *} to ${range#* })"
else
	not_ok "$desc" "window $window_ms ms, /readyz $readyz, config writes ${ew:-none}," \
		"API server rejected $((rej1 - rej0)) (want >= 39: 13 informers x 3)," \
		"informers out of 3..5 errors: ${bad[*]:-none} (of ${#errs[@]})" \
		"$(grep -E -m2 ': 429[: ]' "$WEIR_EXTRA_LOGS/weir-fx-e.log" || echo 'no 429 answer in the log')"
fi

desc="the limit lifted: the operator converges (11/89, 3000 ms, status for the last generation)"
wait "$BLOCKER_PID" 2>/dev/null || true
BLOCKER_PID=""
k delete flowschema "$APF" >/dev/null
t_lift=$(now_ms)
if retry 45 leads weir-fx-e && retry 45 route_is "11 89 3000 v1,v2,v3" &&
	retry "$TIMEOUT" accepted virtualservice reviews; then
	ok "$desc (in $(($(now_ms) - t_lift)) ms)"
else
	not_ok "$desc" "holder '$(holder)'" "$(last_out)"
fi
weir_proc_stop weir-fx-e 15

desc="no sanitizer report in the operators' logs"
logs=()
for name in "${PROCS[@]}"; do
	logs+=("$WEIR_EXTRA_LOGS/$name.log")
done
if grep -l 'Sanitizer\|runtime error' "${logs[@]}" >"$WORK/san.out" 2>/dev/null; then
	not_ok "$desc" "$(cat "$WORK/san.out")"
else
	ok "$desc"
fi
