#!/usr/bin/env bash
# Apply-to-ConfigMap latency of weir-operator on the local control plane
# (e2e/cluster): starts a cluster of its own, creates the CRDs and a state
# written by gen.py, runs the operator against it, waits for every mesh
# namespace's ConfigMap, then times CHANGES VirtualService changes with
# apply_latency.py (own namespace and all namespaces, p50/p99) and reads the
# operator's peak RSS. The cluster is taken down at the end, whatever happens.
#
# Usage: bench/operator-scale/apply.sh [--namespaces N] [--changes N]
#                                     [--visibility mesh|namespace] [-- OPERATOR_FLAGS...]
#   --namespaces N   mesh namespaces of gen.py's shape (default 20). With
#                    every service visible everywhere a namespace's config
#                    grows by about 2.2 kB per service, so 10 services per
#                    namespace stay under the 1 MiB a ConfigMap holds up to
#                    ~45 namespaces; and every change rewrites every
#                    namespace's ConfigMap, which etcd keeps (its default
#                    2 GiB quota was full after 91 changes at 30 namespaces).
#   --changes N      VirtualService changes timed (default 100)
#   --visibility V   gen.py's: "mesh" (the default, above) or "namespace"
#                    (each namespace's objects exported to itself, except
#                    the 10 shared namespaces': configs stay small, so the
#                    issue's 1,000 namespaces fit; the changes go to the
#                    private namespaces)
#   after --, flags for weir-operator (--qps 200 --burst 400, ...)
# Environment: WEIR_OPERATOR     the binary (default <repo>/build/operator/weir-operator)
#              WEIR_CLUSTER_DIR  the cluster's state (default /tmp/weir-cluster-scale)
# Writes bench/results/operator-apply-<time>.csv (one row per change) and
# prints a summary.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export WEIR_CLUSTER_DIR=${WEIR_CLUSTER_DIR:-/tmp/weir-cluster-scale}
# shellcheck source=../../e2e/cluster/env.sh
. "$root/e2e/cluster/env.sh"
operator=${WEIR_OPERATOR:-$root/build/operator/weir-operator}
namespaces=20
changes=100
visibility=mesh
op_flags=()
while (($#)); do
	case $1 in
	--namespaces | --changes)
		(($# >= 2)) || { echo "apply.sh: $1 needs a value" >&2; exit 2; }
		[[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "apply.sh: $1 $2: not a count" >&2; exit 2; }
		if [[ $1 == --namespaces ]]; then namespaces=$2; else changes=$2; fi
		shift 2
		;;
	--visibility)
		(($# >= 2)) || { echo "apply.sh: $1 needs a value" >&2; exit 2; }
		[[ $2 == mesh || $2 == namespace ]] || { echo "apply.sh: --visibility mesh|namespace" >&2; exit 2; }
		visibility=$2
		shift 2
		;;
	--)
		shift
		op_flags=("$@")
		break
		;;
	*)
		echo "apply.sh: unknown option $1" >&2
		exit 2
		;;
	esac
done
[[ -x $operator ]] || { echo "apply.sh: $operator not found: not measured" >&2; exit 2; }

work=$(mktemp -d)
op_pid=
started=0
cleanup() {
	local rc=$?
	if ((rc)) && [[ -s $work/operator.log ]]; then
		mkdir -p "$root/bench/results"
		cp "$work/operator.log" "$root/bench/results/operator-apply-failed.log"
		echo "apply.sh: the operator's log is in bench/results/operator-apply-failed.log" >&2
	fi
	if [[ -n $op_pid ]]; then
		kill -TERM "$op_pid" 2>/dev/null || true
		wait "$op_pid" 2>/dev/null || true
	fi
	if ((started)); then
		"$root/e2e/cluster/down" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
k() { "$KUBECTL" --request-timeout=60s "$@"; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

if [[ -d $WEIR_CLUSTER_DIR ]] && k get --raw /readyz >/dev/null 2>&1; then
	echo "apply.sh: a cluster is already running in $WEIR_CLUSTER_DIR; run e2e/cluster/down with it first" >&2
	exit 1
fi
started=1
"$root/e2e/cluster/up" | sed 's/^/  /'
server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
pki=$WEIR_CLUSTER_DIR/pki

t=$(now)
k apply -f "$root/crds/" >/dev/null
k wait --for=condition=Established --timeout=120s -f "$root/crds/" >/dev/null
python3 "$here/gen.py" --namespaces "$namespaces" --visibility "$visibility" --service-accounts \
	-o "$work/state.yaml"
k create namespace weir-system >/dev/null
k create -f "$work/state.yaml" >"$work/create.log"
objects=$(grep -c '^{' "$work/state.yaml")
echo "created the CRDs and $objects objects ($namespaces namespaces) in $(since "$t") s"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t=$(now)
"$operator" --kubeconfig "$KUBECONFIG" --namespace weir-system --listen "127.0.0.1:$port" \
	--leader-elect=false --log-format json "${op_flags[@]}" >"$work/operator.log" 2>&1 &
op_pid=$!
configmaps() {
	k get configmaps -A --field-selector metadata.name=weir-proxy-config -o name 2>/dev/null | wc -l
}
deadline=$(($(date +%s) + 600))
until (($(configmaps) >= namespaces)); do
	if ! kill -0 "$op_pid" 2>/dev/null || (($(date +%s) > deadline)); then
		echo "apply.sh: $(configmaps) of $namespaces ConfigMaps; the operator's log ends with:" >&2
		tail -n 20 "$work/operator.log" >&2
		exit 1
	fi
	sleep 0.5
done
first_sync=$(since "$t")
echo "weir-operator wrote all $namespaces ConfigMaps $first_sync s after it started"
# The changes are timed on an idle operator: its queue empty and no write
# (config or status) for 5 s, so that a sample never waits behind the first
# sync's status writes.
writes() {
	curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" | awk '
		$1 == "weir_operator_queue_depth" { q = $2 }
		$1 == "weir_operator_config_writes_total" || $1 == "weir_operator_status_writes_total" { w += $2 }
		END { print q + 0, w + 0 }'
}
last=
quiet=0
until ((quiet >= 10)); do
	if ! kill -0 "$op_pid" 2>/dev/null || (($(date +%s) > deadline + 600)); then
		echo "apply.sh: the operator did not settle; its log ends with:" >&2
		tail -n 20 "$work/operator.log" >&2
		exit 1
	fi
	read -r depth count < <(writes)
	if [[ $depth == 0 && $count == "$last" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
	last=$count
	sleep 0.5
done
settled=$(since "$t")
echo "weir-operator idle $settled s after it started ($last writes: configs and statuses)"

shared=
[[ $visibility == namespace ]] && shared=10
mkdir -p "$root/bench/results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
csv=$root/bench/results/operator-apply-$stamp.csv
python3 "$here/apply_latency.py" "$server" "$pki/ca.crt" "$pki/admin.crt" "$pki/admin.key" \
	"$namespaces" "$changes" "$csv" ${shared:+"$shared"} | tee "$work/latency.out"
hwm=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$op_pid/status")
rss=$(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$op_pid/status")
read -r -a s <"$work/latency.out"
echo
if [[ $visibility == mesh ]]; then
	shape="every one visible everywhere"
else
	shape="exported to their own namespace but for 10 shared namespaces'"
fi
echo "| weir-operator, $namespaces namespaces, $((namespaces * 10)) Services, $shape | value |"
echo "|---|---|"
echo "| first sync: every ConfigMap written after start | $first_sync s |"
echo "| every status written too, the operator idle | $settled s |"
echo "| VirtualService change to its namespace's ConfigMap, p50 / p99 / max ($changes changes) | ${s[1]} / ${s[3]} / ${s[5]} ms |"
echo "| the same to every namespace's ConfigMap, p50 / p99 / max | ${s[7]} / ${s[9]} / ${s[11]} ms |"
echo "| operator RSS now / peak (VmHWM) | $rss / $hwm MiB |"
echo "| operator flags | ${op_flags[*]:-(defaults)} |"
{
	echo "# namespaces=$namespaces visibility=$visibility changes=$changes first_sync_s=$first_sync settled_s=$settled rss_mib=$rss hwm_mib=$hwm flags=${op_flags[*]:-}"
	echo "# ${s[*]}"
} >>"$csv"
echo
echo "wrote $csv"
