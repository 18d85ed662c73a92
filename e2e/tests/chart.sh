#!/usr/bin/env bash
# The Helm chart (charts/weir) on the real control plane of e2e/cluster:
#
#   - `helm install` succeeds and every object exists: CRDs Established,
#     ServiceAccounts, RBAC, Deployments (2 operator replicas), Services, the
#     webhook Secret and configurations (caBundle = the Secret's CA), the mesh
#     config. There is no kubelet or scheduler here, so the pods are created
#     by the real Deployment and ReplicaSet controllers and stay Pending; this
#     checks the objects, never pod readiness.
#
# The test namespaces are excluded from the chart's webhooks
# (webhook.excludedNamespaces): the webhook has no pod to answer, and
# failurePolicy is Fail. Everything created is deleted on exit (release,
# namespaces, CRDs this suite installed).
#
# Output is TAP-like; the last line is "N passed, M failed"; the exit status is
# non-zero if a check failed. Environment: WEIR_OPERATOR_TIMEOUT (30 s per wait).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/env.sh
. "$ROOT/e2e/cluster/env.sh"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/lib.sh
. "$ROOT/e2e/cluster/lib.sh"

for tool in curl jq; do
	command -v "$tool" >/dev/null || die "$tool not found (see scripts/install-deps.sh)"
done

TIMEOUT="${WEIR_OPERATOR_TIMEOUT:-30}"
ID="$(date +%s)-$$"
REL="weir-chart-$ID"  # release and its namespace
MESH="weir-chart-mesh-$ID"
MESH2="weir-chart-leave-$ID"
TRUST_DOMAIN="chart.weir.test"
WORK=$(mktemp -d)
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
