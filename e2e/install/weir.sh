#!/usr/bin/env bash
# Install what exists of Weir into the cluster of e2e/cluster/up, with real
# kubectl, the way the chart will do it in a real cluster, except that the
# programs run as processes on this machine (there is no kubelet to run pods):
#
#   1. the CRDs of crds/ (server-side apply), waited for until Established;
#   2. the namespace weir-system;
#   3. a CA and a serving certificate for IP 127.0.0.1 in $WEIR_CLUSTER_DIR/weir/;
#   4. weir-webhook on 127.0.0.1 (a port the kernel picks), checked with
#      /healthz over TLS;
#   5. its MutatingWebhookConfiguration (weir-sidecar-injector) and
#      ValidatingWebhookConfiguration (weir-validator) as in docs/webhook.md,
#      registered by URL with the CA bundle, failurePolicy Fail, never for
#      kube-system and weir-system; then it waits until the API server really
#      calls the webhook (a server-side dry run of a bad VirtualService is
#      refused by it);
#   6. if weir-operator is built: the mesh config as the ConfigMap
#      weir-system/weir-mesh-config, and weir-operator against the admin
#      kubeconfig (lease in weir-system, /metrics /healthz /readyz on
#      127.0.0.1), checked with /readyz.
#
# Idempotent: run it again and it reuses what runs (a program whose binary has
# been rebuilt since, or that does not answer, is restarted) and re-applies the
# rest. The processes are
# recorded in $WEIR_CLUSTER_DIR/pids/extra/, so e2e/cluster/down stops them
# with the cluster; their logs are in $WEIR_CLUSTER_DIR/logs/.
#
# Run it (e2e/install/weir.sh) or source it and call weir_install.
#
# Environment (all optional):
#   WEIR_CLUSTER_DIR      the cluster (default /tmp/weir-cluster)
#   WEIR_BUILD            CMake build folder (default: build/ of this checkout)
#   WEIR_WEBHOOK_BIN      default $WEIR_BUILD/webhook/weir-webhook
#   WEIR_OPERATOR_BIN     default $WEIR_BUILD/operator/weir-operator
#   WEIR_OPERATOR_ARGS    more arguments for weir-operator (split on spaces)
#   WEIR_MESH_CONFIG      default docs/examples/mesh-config.yaml
#   WEIR_INSTALL_TIMEOUT  seconds for each wait (default 60)

WEIR_INSTALL_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WEIR_ROOT="$(cd "$WEIR_INSTALL_HERE/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/env.sh
. "$WEIR_ROOT/e2e/cluster/env.sh"
# shellcheck source=lib.sh
. "$WEIR_INSTALL_HERE/lib.sh"

WEIR_BUILD="${WEIR_BUILD:-$WEIR_ROOT/build}"
WEIR_WEBHOOK_BIN="${WEIR_WEBHOOK_BIN:-$WEIR_BUILD/webhook/weir-webhook}"
WEIR_OPERATOR_BIN="${WEIR_OPERATOR_BIN:-$WEIR_BUILD/operator/weir-operator}"
WEIR_MESH_CONFIG="${WEIR_MESH_CONFIG:-$WEIR_ROOT/docs/examples/mesh-config.yaml}"
WEIR_INSTALL_TIMEOUT="${WEIR_INSTALL_TIMEOUT:-60}"
WEIR_STATE="$WEIR_CLUSTER_DIR/weir"

_wk() { "$KUBECTL" --request-timeout=30s "$@"; }
_wsay() { printf '  %s\n' "$*"; }

# _wwait SECONDS COMMAND...: poll COMMAND until it succeeds.
_wwait() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.25
	done
}

weir_install_crds() {
	local out n
	out=$(_wk apply --server-side --field-manager=weir-install -f "$WEIR_ROOT/crds/" 2>&1) || {
		echo "$out" >&2
		weir_die "kubectl apply --server-side -f crds/ failed"
	}
	n=$(grep -c 'serverside-applied' <<<"$out")
	_wk wait --for=condition=Established --timeout="${WEIR_INSTALL_TIMEOUT}s" \
		crd -l app.kubernetes.io/part-of=weir >/dev/null ||
		weir_die "the CRDs did not become Established within ${WEIR_INSTALL_TIMEOUT}s"
	_wsay "CRDs: $n applied server-side, all Established:" \
		"$(_wk get crd -l app.kubernetes.io/part-of=weir -o jsonpath='{.items[*].spec.names.kind}')"
}

weir_install_namespace() {
	_wk create namespace weir-system --dry-run=client -o yaml |
		_wk label --local -f - app.kubernetes.io/part-of=weir -o yaml |
		_wk apply -f - >/dev/null || weir_die "cannot create the namespace weir-system"
	_wsay "namespace weir-system: $(_wk get namespace weir-system -o jsonpath='{.status.phase}')"
}

# weir_install_webhook: sets WEIR_WEBHOOK_URL.
weir_install_webhook() {
	local pid url=""
	[[ -x $WEIR_WEBHOOK_BIN ]] || weir_die "$WEIR_WEBHOOK_BIN is missing; build Weir first (cmake --build build)"
	[[ -r $WEIR_MESH_CONFIG ]] || weir_die "mesh config $WEIR_MESH_CONFIG not found"
	weir_serving_cert "$WEIR_STATE/webhook-tls" weir-webhook
	_wsay "serving certificate: $WEIR_STATE/webhook-tls/tls.crt (IP SAN 127.0.0.1," \
		"CA $WEIR_STATE/webhook-tls/ca.crt)"
	[[ -r $WEIR_STATE/webhook.url ]] && url=$(<"$WEIR_STATE/webhook.url")
	if pid=$(weir_proc_pid weir-webhook); then
		if weir_proc_stale weir-webhook "$WEIR_WEBHOOK_BIN"; then
			_wsay "weir-webhook (pid $pid) runs an older build or another binary; restarting it"
		elif [[ -n $url ]] && weir_healthz "$url" "$WEIR_STATE/webhook-tls/ca.crt"; then
			WEIR_WEBHOOK_URL=$url
			_wsay "weir-webhook already running: pid $pid on $url (log $WEIR_EXTRA_LOGS/weir-webhook.log)"
			return 0
		else
			_wsay "weir-webhook (pid $pid) does not answer on ${url:-its old URL}; restarting it"
		fi
		weir_proc_stop weir-webhook 10
	fi
	weir_webhook_start weir-webhook "$WEIR_WEBHOOK_BIN" "$WEIR_STATE/webhook-tls" "$WEIR_MESH_CONFIG" --threads 4
	echo "$WEIR_WEBHOOK_URL" >"$WEIR_STATE/webhook.url"
	_wsay "weir-webhook $("$WEIR_WEBHOOK_BIN" --version | awk '{print $2}') started: pid $WEIR_PROC_PID" \
		"on $WEIR_WEBHOOK_URL (log $WEIR_EXTRA_LOGS/weir-webhook.log)"
	_wsay "GET $WEIR_WEBHOOK_URL/healthz over TLS: ok"
}

# A VirtualService that Weir's validation refuses (and the CRD schema
# accepts), sent as a server-side dry run: refused by validate.weir.dev once
# the API server has picked up the new configuration.
_weir_validation_called() {
	local err
	err=$(_wk create --dry-run=server -f - 2>&1 >/dev/null <<'EOF'
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: weir-install-probe, namespace: default}
spec:
  hosts: [weir-install-probe]
  http:
  - route:
    - destination: {host: weir-install-probe}
    timeout: "2"
EOF
	)
	[[ $err == *'admission webhook "validate.weir.dev" denied the request'* ]]
}

weir_install_webhook_configurations() {
	weir_webhook_configurations weir-sidecar-injector weir-validator "$WEIR_WEBHOOK_URL" \
		"$WEIR_STATE/webhook-tls/ca.crt" >"$WEIR_STATE/webhook-configurations.yaml"
	_wk apply -f "$WEIR_STATE/webhook-configurations.yaml" >/dev/null ||
		weir_die "cannot register the webhook configurations ($WEIR_STATE/webhook-configurations.yaml)"
	_wsay "registered MutatingWebhookConfiguration weir-sidecar-injector and" \
		"ValidatingWebhookConfiguration weir-validator -> $WEIR_WEBHOOK_URL (failurePolicy Fail)"
	_wwait "$WEIR_INSTALL_TIMEOUT" _weir_validation_called || {
		weir_log_tail weir-webhook
		weir_die "the API server does not call weir-webhook: a bad VirtualService sent as a" \
			"server-side dry run was not refused by validate.weir.dev within ${WEIR_INSTALL_TIMEOUT}s"
	}
	_wsay "the API server calls it: a bad VirtualService (server-side dry run) is refused by validate.weir.dev"
}

# The mesh config the operator reads: ConfigMap weir-system/weir-mesh-config,
# key "mesh", as the chart stores it (the webhook reads the same file).
weir_install_mesh_config() {
	_wk create configmap weir-mesh-config -n weir-system --from-file=mesh="$WEIR_MESH_CONFIG" \
		--dry-run=client -o yaml | _wk apply --server-side --field-manager=weir-install -f - >/dev/null ||
		weir_die "cannot write the ConfigMap weir-system/weir-mesh-config"
	_wsay "mesh config: ConfigMap weir-system/weir-mesh-config from ${WEIR_MESH_CONFIG#"$WEIR_ROOT"/}"
}

_weir_operator_ready() {
	[[ "$(curl -sS --max-time 2 "$1/readyz" 2>/dev/null)" == ok ]]
}

# weir_install_operator: start weir-operator if it is built (weir_proc_pid
# weir-operator tells the caller whether it runs).
weir_install_operator() {
	local pid url="" port args
	if [[ ! -x $WEIR_OPERATOR_BIN ]]; then
		if pid=$(weir_proc_pid weir-operator); then
			_wsay "stopping the weir-operator an earlier run started (pid $pid): $WEIR_OPERATOR_BIN is gone"
			weir_proc_stop weir-operator 10
		fi
		_wsay "weir-operator is not built yet; proxy configs are not generated"
		return 0
	fi
	weir_install_mesh_config
	[[ -r $WEIR_STATE/operator.url ]] && url=$(<"$WEIR_STATE/operator.url")
	if pid=$(weir_proc_pid weir-operator); then
		if weir_proc_stale weir-operator "$WEIR_OPERATOR_BIN"; then
			_wsay "weir-operator (pid $pid) runs an older build or another binary; restarting it"
		elif [[ -n $url ]] && weir_healthz "$url"; then
			_wsay "weir-operator already running: pid $pid, /metrics /healthz /readyz on $url" \
				"(log $WEIR_EXTRA_LOGS/weir-operator.log)"
			return 0
		else
			_wsay "weir-operator (pid $pid) does not answer on ${url:-its old URL}; restarting it"
		fi
		weir_proc_stop weir-operator 10
	fi
	# The admin kubeconfig; the lease and the mesh config in weir-system; the
	# metrics and health endpoints on a port the kernel picks.
	args=(--kubeconfig "$KUBECONFIG" --namespace weir-system --listen 127.0.0.1:0 --log-format json)
	# shellcheck disable=SC2206
	[[ -n ${WEIR_OPERATOR_ARGS:-} ]] && args+=($WEIR_OPERATOR_ARGS)
	weir_proc_start weir-operator "$WEIR_OPERATOR_BIN" "${args[@]}"
	port=$(weir_log_port weir-operator "weir-operator starting") || exit 1
	url="http://127.0.0.1:$port"
	echo "$url" >"$WEIR_STATE/operator.url"
	_wsay "weir-operator $("$WEIR_OPERATOR_BIN" --version | awk '{print $2}') started: pid $WEIR_PROC_PID," \
		"/metrics /healthz /readyz on $url (log $WEIR_EXTRA_LOGS/weir-operator.log)"
	_wwait "$WEIR_INSTALL_TIMEOUT" _weir_operator_ready "$url" || {
		weir_log_tail weir-operator
		weir_proc_pid weir-operator >/dev/null || weir_die "weir-operator exited"
		weir_die "weir-operator's $url/readyz did not answer ok within ${WEIR_INSTALL_TIMEOUT}s"
	}
	_wsay "GET $url/readyz: ok (its informers have synced)"
}

weir_install() {
	local tool
	for tool in jq openssl curl setsid base64; do
		command -v "$tool" >/dev/null || weir_die "$tool not found (see scripts/install-deps.sh)"
	done
	[[ -x $KUBECTL ]] || weir_die "$KUBECTL missing; run e2e/cluster/up first"
	[[ -s $KUBECONFIG ]] || weir_die "no cluster in $WEIR_CLUSTER_DIR; run e2e/cluster/up first"
	[[ "$(_wk get --raw /readyz 2>/dev/null)" == ok ]] ||
		weir_die "the API server of $KUBECONFIG is not ready; run e2e/cluster/up"
	mkdir -p "$WEIR_STATE" || weir_die "cannot create $WEIR_STATE"
	weir_install_crds
	weir_install_namespace
	weir_install_webhook
	weir_install_webhook_configurations
	weir_install_operator
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -euo pipefail
	weir_install
fi
