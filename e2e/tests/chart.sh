#!/usr/bin/env bash
# The Helm chart (charts/weir) on the real control plane of e2e/cluster, and
# weir-operator running as its pod would, with nothing but the chart's RBAC:
#
#   - `helm install` succeeds and every object exists: CRDs Established,
#     ServiceAccounts, RBAC, Deployments (2 operator replicas), Services, the
#     webhook Secret and configurations (caBundle = the Secret's CA), the mesh
#     config. There is no kubelet or scheduler here, so the pods are created
#     by the real Deployment and ReplicaSet controllers and stay Pending; this
#     checks the objects, never pod readiness.
#   - a token for the chart's weir-operator ServiceAccount (kubectl create
#     token, the API server's audience, bound to a Secret) authenticates as
#     system:serviceaccount:NS:weir-operator and is refused what the chart
#     does not grant (listing Secrets: 403);
#   - weir-operator in a private mount namespace, that token, the cluster CA
#     and the namespace bind-mounted on
#     /var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST
#     and _PORT set, no KUBECONFIG and no --namespace: it takes its in-cluster
#     configuration and, with only the chart's RBAC, lists and watches
#     everything (/readyz), takes the Lease in the release namespace, writes
#     the ConfigMap (server-side apply) with the chart's trust domain, sets
#     statuses, emits a Warning Event for an invalid VirtualService, deletes
#     the ConfigMap of a namespace leaving the mesh, and logs no 403;
#   - token rotation: a new token replaces the file, the old one is revoked
#     (its Secret deleted: 401); the operator keeps its Lease and reconciles
#     the next change, with no 401 logged;
#   - `helm upgrade` keeps the webhook certificate (and caBundle) and rolls out
#     the new value; `helm uninstall` removes the cluster-wide objects too.
#
# The test namespaces are excluded from the chart's webhooks
# (webhook.excludedNamespaces): the webhook has no pod to answer, and
# failurePolicy is Fail. Everything created is deleted on exit (release,
# namespaces, CRDs this suite installed). Needs root for the mount namespace.
#
# Output is TAP-like; the last line is "N passed, M failed"; the exit status is
# non-zero if a check failed. Environment: WEIR_BUILD (as e2e/run.sh sets it),
# WEIR_OPERATOR_TIMEOUT (30 s per wait).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/env.sh
. "$ROOT/e2e/cluster/env.sh"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/lib.sh
. "$ROOT/e2e/cluster/lib.sh"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/install/lib.sh
. "$ROOT/e2e/install/lib.sh"

for tool in curl jq openssl unshare setsid; do
	command -v "$tool" >/dev/null || die "$tool not found (see scripts/install-deps.sh)"
done
(($(id -u) == 0)) || die "needs root: the operator runs in a mount namespace of its own"

BUILD="${WEIR_BUILD:-${WEIR_BUILD_DIR:-$ROOT/build-test}}"
OPERATOR="$BUILD/operator/weir-operator"
TIMEOUT="${WEIR_OPERATOR_TIMEOUT:-30}"
ID="$(date +%s)-$$"
REL="weir-chart-$ID"  # release and its namespace
MESH="weir-chart-mesh-$ID"
MESH2="weir-chart-leave-$ID"
TRUST_DOMAIN="chart.weir.test"
OPNAME=weir-chart-operator
WORK=$(mktemp -d)
SA="$WORK/serviceaccount"
STARTED_CLUSTER=0
INSTALLED=0
CREATED_CRDS=()

PASSED=0 FAILED=0 N=0
ok() {
	N=$((N + 1)) PASSED=$((PASSED + 1))
	echo "ok $N - $1"
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
	local rc=$?
	set +e
	weir_proc_stop "$OPNAME" 10
	if [[ -s $KUBECONFIG ]] && k get --raw /readyz >/dev/null 2>&1; then
		{
			((INSTALLED)) && "$HELM" uninstall "$REL" -n "$REL" --wait --timeout 60s
			k delete pods --all -n "$REL" --grace-period=0 --force --wait=false
			for ns in "$MESH" "$MESH2" "$REL"; do
				k delete namespace "$ns" --ignore-not-found --wait=false
			done
			((${#CREATED_CRDS[@]})) &&
				k delete crd "${CREATED_CRDS[@]}" --ignore-not-found --wait=true --timeout=60s
		} >"$WORK/cleanup.log" 2>&1
	fi
	if ((FAILED)) && [[ -s $WEIR_EXTRA_LOGS/$OPNAME.log ]]; then
		echo "# ---- last lines of $OPNAME.log ----"
		tail -n 25 "$WEIR_EXTRA_LOGS/$OPNAME.log" | sed 's/^/#   /'
	fi
	rm -rf "$WORK"
	((STARTED_CLUSTER)) && { "$ROOT/e2e/cluster/down" >/dev/null || true; }
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0)) || exit 1
	exit "$rc"
}
trap cleanup EXIT

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
[[ -x $HELM ]] || die "$HELM not built (e2e/cluster/build.sh)"
if [[ -f $BUILD/build.ninja ]] && grep -q 'weir-operator' "$BUILD/build.ninja"; then
	cmake --build "$BUILD" --target weir-operator >"$WORK/build.log" 2>&1 ||
		{ cat "$WORK/build.log" >&2; die "building weir-operator failed"; }
fi
[[ -x $OPERATOR ]] || die "$OPERATOR not found (set WEIR_BUILD to a build with operator/)"
SERVER=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
API_HOST=$(sed -E 's|https://([^:/]+):([0-9]+).*|\1|' <<<"$SERVER")
API_PORT=$(sed -E 's|https://([^:/]+):([0-9]+).*|\2|' <<<"$SERVER")
CA="$WEIR_CLUSTER_DIR/pki/ca.crt"
# the API server's audience: its service-account issuer (up's flags)
AUDIENCE=$(tr '\0' '\n' <"$WEIR_PIDS/kube-apiserver.args" | sed -n 's/^--service-account-issuer=//p')

# ---- helm install ------------------------------------------------------------------
for f in "$ROOT"/charts/weir/crds/*.yaml; do
	name=$(awk '/^metadata:/{m=1} m && /^  name:/{print $2; exit}' "$f")
	if [[ -n $(k get crd "$name" -o jsonpath='{.metadata.deletionTimestamp}' 2>/dev/null) ]]; then
		k wait --for=delete --timeout=60s "crd/$name" >/dev/null 2>&1 || true
	fi
	k get crd "$name" >/dev/null 2>&1 || CREATED_CRDS+=("$name")
done
desc="helm install (no --wait: there is no kubelet to run the pods)"
t0=$(date +%s%3N)
if "$HELM" install "$REL" "$ROOT/charts/weir" -n "$REL" --create-namespace \
	--set trustDomain="$TRUST_DOMAIN" --set "webhook.excludedNamespaces={$MESH,$MESH2}" \
	>"$WORK/install.out" 2>&1; then
	INSTALLED=1
	ok "$desc: $(grep -m1 '^STATUS' "$WORK/install.out") in $(($(date +%s%3N) - t0)) ms"
else
	not_ok "$desc" "$(cat "$WORK/install.out")"
	exit 1
fi

desc="the chart's objects exist: CRDs Established, RBAC, ServiceAccounts, Deployments, Services, Secret, webhooks, mesh config"
missing=()
for o in serviceaccount/weir-operator serviceaccount/weir-webhook role/weir-operator rolebinding/weir-operator \
	deployment/weir-operator deployment/weir-webhook service/weir-operator service/weir-webhook \
	secret/weir-webhook-tls configmap/weir-mesh-config; do
	k get -n "$REL" "$o" >/dev/null 2>&1 || missing+=("$REL/$o")
done
for o in "clusterrole/weir-operator-$REL" "clusterrolebinding/weir-operator-$REL" \
	mutatingwebhookconfiguration/weir-sidecar-injector validatingwebhookconfiguration/weir-validator; do
	k get "$o" >/dev/null 2>&1 || missing+=("$o")
done
ca_secret=$(k get secret weir-webhook-tls -n "$REL" -o jsonpath='{.data.ca\.crt}' 2>/dev/null || true)
bundles=$( (k get mutatingwebhookconfiguration weir-sidecar-injector -o json
	k get validatingwebhookconfiguration weir-validator -o json) 2>/dev/null |
	jq -r '.webhooks[].clientConfig.caBundle' | sort -u)
crds=$(k get crd -l app.kubernetes.io/part-of=weir -o json |
	jq '[.items[] | select(any(.status.conditions[]?; .type == "Established" and .status == "True"))] | length')
mesh_td=$(k get configmap weir-mesh-config -n "$REL" -o jsonpath='{.data.mesh}' | sed -n 's/^trustDomain: //p')
if ((${#missing[@]} == 0)) && [[ -n $ca_secret && $bundles == "$ca_secret" && $crds == 7 &&
	$mesh_td == "$TRUST_DOMAIN" ]]; then
	ok "$desc"
else
	not_ok "$desc" "missing: ${missing[*]:-none}; CRDs Established: $crds (want 7)" \
		"caBundles equal the Secret's ca.crt: $([[ $bundles == "$ca_secret" ]] && echo yes || echo no)," \
		"mesh config trustDomain '$mesh_td'"
fi

desc="the Deployment controller creates 2 operator and 2 webhook pods; they stay Pending (no scheduler, no kubelet)"
pods_of() { # APP: "N phase,phase"
	k get pods -n "$REL" -l "app.kubernetes.io/name=$1" -o json |
		jq -r '"\(.items | length) \([.items[].status.phase] | unique | join(","))"'
}
pods_created() {
	local o w
	o=$(pods_of weir-operator) w=$(pods_of weir-webhook)
	echo "operator pods: $o; webhook pods: $w"
	[[ $o == "2 Pending" && $w == "2 Pending" ]]
}
if retry "$TIMEOUT" pods_created; then
	ok "$desc ($(last_out))"
else
	not_ok "$desc" "$(last_out)"
fi

# ---- the operator with the chart's RBAC ---------------------------------------------
# tokens bound to Secrets, so that deleting the Secret revokes the token
token_for() { # SECRET: a token of the chart's weir-operator ServiceAccount, bound to SECRET
	k create secret generic "$1" -n "$REL" --from-literal=purpose=token-binding >/dev/null &&
		k create token weir-operator -n "$REL" --audience "$AUDIENCE" --duration 1h \
			--bound-object-kind Secret --bound-object-name "$1"
}
api_as() { # TOKEN METHOD PATH [BODY]: the HTTP status; the body in $WORK/api.out
	curl -sS -o "$WORK/api.out" -w '%{http_code}' --max-time 10 --cacert "$CA" \
		-H "Authorization: Bearer $1" -H 'Content-Type: application/json' -X "$2" "$SERVER$3" \
		${4:+--data-binary "$4"}
}
desc="a token for the chart's ServiceAccount (audience $AUDIENCE): who it is, and what it may not do"
TOKEN1=$(token_for weir-chart-token-1)
who_code=$(api_as "$TOKEN1" POST /apis/authentication.k8s.io/v1/selfsubjectreviews \
	'{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}')
who=$(jq -r '.status.userInfo.username' "$WORK/api.out" 2>/dev/null || true)
secrets_code=$(api_as "$TOKEN1" GET "/api/v1/namespaces/$REL/secrets")
if [[ $who_code == 201 && $who == "system:serviceaccount:$REL:weir-operator" && $secrets_code == 403 ]]; then
	ok "$desc: $who; listing Secrets: HTTP 403"
else
	not_ok "$desc" "selfsubjectreview HTTP $who_code: '$who'; list secrets: HTTP $secrets_code"
fi

cat >"$WORK/mesh.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $MESH
  labels: {weir-injection: enabled}
---
apiVersion: v1
kind: Namespace
metadata:
  name: $MESH2
  labels: {weir-injection: enabled}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: $MESH}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
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
        - {destination: {host: reviews, subset: v1}, weight: 90}
        - {destination: {host: reviews, subset: v2}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad-weights, namespace: $MESH}
spec:
  hosts: [reviews]
  http:
    - route:
        - {destination: {host: reviews, subset: v1}, weight: 90}
        - {destination: {host: reviews, subset: v2}, weight: 20}
EOF
k apply -f "$WORK/mesh.yaml" >"$WORK/mesh.out" 2>&1 || not_ok "apply the mesh objects" "$(cat "$WORK/mesh.out")"

mkdir -p "$SA"
printf '%s' "$TOKEN1" >"$SA/token"
cp "$CA" "$SA/ca.crt"
printf '%s' "$REL" >"$SA/namespace"
desc="weir-operator in a mount namespace with the token on /var/run/secrets/...: in-cluster config, the pod's namespace, caches synced"
weir_proc_start_in_pod "$OPNAME" "$OPERATOR" "$SA" "$API_HOST" "$API_PORT" \
	--listen 127.0.0.1:0 --id "$OPNAME" --log-format json --resync-period 3s
port=$(weir_log_port "$OPNAME" "weir-operator starting")
URL="http://127.0.0.1:$port"
environ=$(tr '\0' '\n' <"/proc/$WEIR_PROC_PID/environ" | grep -c '^KUBECONFIG=' || true)
mounted=$(nsenter -t "$WEIR_PROC_PID" -m cat /var/run/secrets/kubernetes.io/serviceaccount/namespace 2>/dev/null || true)
# what it logs at start: where its configuration came from, the server, its namespace
started=$(jq -r 'select(.msg == "weir-operator starting") | "\(.config) \(.server) \(.namespace)"' \
	"$WEIR_EXTRA_LOGS/$OPNAME.log" | head -1)
if retry "$TIMEOUT" curl -fsS --max-time 2 "$URL/readyz" && [[ $environ == 0 && $mounted == "$REL" &&
	$started == "in-cluster https://$API_HOST:$API_PORT $REL" ]]; then
	ok "$desc ($started)"
else
	not_ok "$desc" "KUBECONFIG in its environment: $environ; namespace file seen inside: '$mounted'" \
		"logged at start: '$started' (want 'in-cluster https://$API_HOST:$API_PORT $REL')" "$(last_out)"
fi

holder() { k get lease weir-operator -n "$REL" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
leads() { [[ $(holder) == "$OPNAME" ]]; }
cm_route() { # NS: "W1 W2 TRUST_DOMAIN" from the ConfigMap's proxy config
	k get configmap weir-proxy-config -n "$1" -o json | jq -r --arg h "reviews.$1.svc.cluster.local" '
		.data["proxy-config.json"] | fromjson |
		([.services[] | select(.host == $h) | .ports[0].http[0].route][0]) as $r |
		"\($r[0].weight // "none") \($r[1].weight // "none") \(.metadata.trustDomain)"'
}
route_is() {
	local got
	got=$(cm_route "$MESH") || return 1
	echo "route: $got (want $1)"
	[[ $got == "$1" ]]
}
condition() { # NAME: "status reason observedGeneration generation"
	k get virtualservice "$1" -n "$MESH" -o json | jq -r '
		(.status.conditions // [] | map(select(.type == "Accepted")) | .[0]) as $c |
		"\($c.status // "none") \($c.reason // "none") \($c.observedGeneration // "none") \(.metadata.generation)"'
}
cond_is() { # NAME STATUS REASON
	local st reason cgen gen
	read -r st reason cgen gen <<<"$(condition "$1")"
	echo "$1: $st $reason observedGeneration $cgen generation $gen"
	[[ $st == "$2" && $reason == "$3" && $cgen == "$gen" ]]
}
warned() {
	k get events.events.k8s.io -n "$MESH" -o json | jq -e --arg n bad-weights '
		[.items[] | select(.regarding.name == $n and .type == "Warning" and .reason == "Invalid")] | length > 0'
}
desc="with the chart's RBAC: Lease taken, ConfigMap written (90/10, trust domain $TRUST_DOMAIN), statuses, a Warning Event"
if retry "$TIMEOUT" leads && retry "$TIMEOUT" route_is "90 10 $TRUST_DOMAIN" &&
	retry "$TIMEOUT" cond_is reviews True Accepted && retry "$TIMEOUT" cond_is bad-weights False Invalid &&
	retry "$TIMEOUT" warned; then
	ok "$desc"
else
	not_ok "$desc" "holder '$(holder)'" "$(last_out)"
fi

desc="a namespace leaving the mesh: its ConfigMap is deleted"
if retry "$TIMEOUT" k get configmap weir-proxy-config -n "$MESH2"; then
	k label namespace "$MESH2" weir-injection- >/dev/null
	if retry "$TIMEOUT" bash -c "! '$KUBECTL' get configmap weir-proxy-config -n '$MESH2' >/dev/null 2>&1"; then
		ok "$desc"
	else
		not_ok "$desc" "still there after ${TIMEOUT}s"
	fi
else
	not_ok "$desc" "no ConfigMap in $MESH2 to start with:" "$(last_out)"
fi

# api_answers STATUS [FROM_LINE]: the operator's log lines (from FROM_LINE on)
# that report an API answer with that HTTP status; lib/kube formats them as
# "VERB /path: 403 Forbidden: message" or "VERB /path: 403: message".
api_answers() { tail -n "+${2:-1}" "$WEIR_EXTRA_LOGS/$OPNAME.log" | grep -E ": $1[: ]" || true; }
forbidden() { api_answers 403 | grep -c . || true; }
desc="no 403 logged, no failed API write"
n403=$(forbidden)
api_errors=$(curl -fsS --max-time 5 "$URL/metrics" | awk '$1 == "weir_operator_api_errors_total" {print $2}')
if [[ $n403 == 0 && $api_errors == 0 ]]; then
	ok "$desc"
else
	not_ok "$desc" "$n403 lines with 403, weir_operator_api_errors_total ${api_errors:-none}" \
		"$(api_answers 403 | head -3)"
fi

# ---- token rotation ------------------------------------------------------------------
desc="token rotation: new token in place, the old one revoked (401); the Lease is renewed and the next change lands"
TOKEN2=$(token_for weir-chart-token-2)
lines_before=$(wc -l <"$WEIR_EXTRA_LOGS/$OPNAME.log")
printf '%s' "$TOKEN2" >"$SA/token.new"
mv -f "$SA/token.new" "$SA/token" # a new file, as the kubelet's atomic writer swaps one in
k delete secret weir-chart-token-1 -n "$REL" >/dev/null
revoked() { [[ $(api_as "$TOKEN1" GET "/api/v1/namespaces/$REL/configmaps") == 401 ]]; }
if retry "$TIMEOUT" revoked; then
	renew0=$(k get lease weir-operator -n "$REL" -o jsonpath='{.spec.renewTime}' 2>/dev/null)
	sleep 5 # a few renewals (retry period 2 s), all with the new token
	renew1=$(k get lease weir-operator -n "$REL" -o jsonpath='{.spec.renewTime}' 2>/dev/null)
	k patch virtualservice reviews -n "$MESH" --type=json \
		-p '[{"op":"replace","path":"/spec/http/0/route/0/weight","value":35},{"op":"replace","path":"/spec/http/0/route/1/weight","value":65}]' >/dev/null
	if retry "$TIMEOUT" route_is "35 65 $TRUST_DOMAIN" && retry "$TIMEOUT" cond_is reviews True Accepted && leads &&
		[[ $renew1 > $renew0 ]]; then
		n401=$(api_answers 401 "$((lines_before + 1))" | grep -c . || true)
		if [[ $n401 == 0 ]]; then
			ok "$desc (renewTime $renew0 -> $renew1)"
		else
			not_ok "$desc" "$n401 lines with 401 after the rotation:" \
				"$(api_answers 401 "$((lines_before + 1))" | head -3)"
		fi
	else
		not_ok "$desc" "holder '$(holder)', renewTime $renew0 -> $renew1" "$(last_out)"
	fi
else
	not_ok "$desc" "the old token still works after its Secret was deleted"
fi

desc="SIGTERM: exit, Lease released, no 403 and no sanitizer report in the log"
pid=$(weir_proc_pid "$OPNAME" || true)
weir_proc_stop "$OPNAME" 15
if [[ -n $pid ]] && [[ -z $(holder) ]] && [[ $(forbidden) == 0 ]] &&
	! grep -q 'Sanitizer\|runtime error' "$WEIR_EXTRA_LOGS/$OPNAME.log"; then
	ok "$desc"
else
	not_ok "$desc" "holder '$(holder)', 403 lines $(forbidden)" \
		"$(grep -m5 'Sanitizer\|runtime error' "$WEIR_EXTRA_LOGS/$OPNAME.log")"
fi

# ---- upgrade and uninstall ---------------------------------------------------------
desc="helm upgrade keeps the webhook's certificate and caBundle (lookup) and rolls the new values out"
crt0=$(k get secret weir-webhook-tls -n "$REL" -o jsonpath='{.data.tls\.crt}')
if "$HELM" upgrade "$REL" "$ROOT/charts/weir" -n "$REL" --reuse-values --set operator.logLevel=debug \
	>"$WORK/upgrade.out" 2>&1; then
	crt1=$(k get secret weir-webhook-tls -n "$REL" -o jsonpath='{.data.tls\.crt}')
	bundle=$(k get validatingwebhookconfiguration weir-validator -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
	ca1=$(k get secret weir-webhook-tls -n "$REL" -o jsonpath='{.data.ca\.crt}')
	op_args=$(k get deployment weir-operator -n "$REL" -o jsonpath='{.spec.template.spec.containers[0].args}')
	if [[ -n $crt0 && $crt1 == "$crt0" && $bundle == "$ca1" && $op_args == *"--log-level=debug"* ]]; then
		ok "$desc"
	else
		not_ok "$desc" "certificate kept: $([[ $crt1 == "$crt0" ]] && echo yes || echo no)," \
			"caBundle = ca.crt: $([[ $bundle == "$ca1" ]] && echo yes || echo no), args $op_args"
	fi
else
	not_ok "$desc" "$(cat "$WORK/upgrade.out")"
fi

desc="helm uninstall removes the cluster-wide objects too (ClusterRole, binding, webhook configurations)"
if "$HELM" uninstall "$REL" -n "$REL" --wait --timeout 60s >"$WORK/uninstall.out" 2>&1; then
	INSTALLED=0
	left=()
	for o in "clusterrole/weir-operator-$REL" "clusterrolebinding/weir-operator-$REL" \
		mutatingwebhookconfiguration/weir-sidecar-injector validatingwebhookconfiguration/weir-validator; do
		k get "$o" >/dev/null 2>&1 && left+=("$o")
	done
	if ((${#left[@]} == 0)); then
		ok "$desc"
	else
		not_ok "$desc" "still there: ${left[*]}"
	fi
else
	not_ok "$desc" "$(cat "$WORK/uninstall.out")"
fi
