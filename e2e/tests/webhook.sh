#!/usr/bin/env bash
# weir-webhook against a real kube-apiserver: the webhook runs on 127.0.0.1
# with a certificate whose IP SAN is 127.0.0.1 (the API server does not fall
# back to the CN), is registered by URL with its CA bundle, and the API server
# calls it for real:
#
#   - a Pod created in a namespace labelled weir-injection=enabled (or
#     istio-injection=enabled) comes back with weir-init and the native
#     weir-proxy sidecar, volumes and annotations, and is stored that way;
#     a Deployment's pods (made by the controller manager) are injected too;
#   - pods in other namespaces, opted-out pods and pods with malformed
#     annotations are left alone or refused with the reason;
#   - kubectl apply of a bad VirtualService fails with the field path and the
#     reason on stderr; a good one is stored; one with an unsupported field is
#     stored and kubectl prints "Warning:";
#   - 500 pods created 8 at a time are all injected, and the admission
#     latency p99 is printed from the webhook's histogram and the API
#     server's.
#
# Run against a cluster that is already up (e2e/cluster/up); it uses only
# namespaces and webhook configurations of its own (named after the run), and
# its webhooks only see those namespaces, so a shared cluster is not
# disturbed. Everything is deleted on exit, webhook configurations first.
#
# Environment: WEIR_WEBHOOK_BIN (default: the newest build*/webhook/weir-webhook),
# WEIR_WEBHOOK_BURST (500), WEIR_WEBHOOK_PARALLEL (8), WEIR_WEBHOOK_TIMEOUT (60 s
# per wait).
#
# Output is TAP-like, one "ok N - ..." or "not ok N - ..." per check, then
# "N passed, M failed"; the exit status is non-zero if a check failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/env.sh
. "$ROOT/e2e/cluster/env.sh"
DATA="$HERE/testdata/webhook"

die() {
	echo "${0##*/}: error: $*" >&2
	exit 1
}
for tool in jq openssl curl xargs; do
	command -v "$tool" >/dev/null || die "$tool not found (see scripts/install-deps.sh)"
done
[[ -x $KUBECTL ]] || die "$KUBECTL missing; run e2e/cluster/up first"
[[ -s $KUBECONFIG ]] || die "$KUBECONFIG missing: no cluster is up; run e2e/cluster/up first"

WEBHOOK="${WEIR_WEBHOOK_BIN:-}"
if [[ -z $WEBHOOK ]]; then
	WEBHOOK=$(ls -t "$ROOT"/build*/webhook/weir-webhook 2>/dev/null | head -1)
fi
[[ -x $WEBHOOK ]] || die "weir-webhook not found; build it or set WEIR_WEBHOOK_BIN"

BURST="${WEIR_WEBHOOK_BURST:-500}"
PARALLEL="${WEIR_WEBHOOK_PARALLEL:-8}"
TIMEOUT="${WEIR_WEBHOOK_TIMEOUT:-60}"
ID="$(date +%s)-$$"
RUN="hook-$ID" # label value that scopes the webhooks to this run's namespaces
NS="weir-e2e-hook-$ID"
NS_ISTIO="$NS-istio"
NS_PLAIN="$NS-plain"
NS_BURST="$NS-burst"
CONFIG="weir-e2e-$RUN"
WORK=$(mktemp -d)
WEBHOOK_PID=""
CREATED_CRD=0

k() { "$KUBECTL" --request-timeout=30s "$@"; }

PASSED=0
FAILED=0
N=0
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	N=$((N + 1))
	if "$@"; then
		PASSED=$((PASSED + 1))
		echo "ok $N - $what"
	else
		FAILED=$((FAILED + 1))
		echo "not ok $N - $what"
	fi
}
eq() {
	[[ $1 == "$2" ]] && return 0
	printf '    got:  %s\n    want: %s\n' "$1" "$2"
	return 1
}
contains() { # contains FILE TEXT
	grep -qF -- "$2" "$1" && return 0
	echo "    $1 does not contain: $2"
	sed 's/^/    | /' "$1" | head -20
	return 1
}

cleanup() {
	local rc=$?
	# Webhook configurations first: with failurePolicy Fail and the webhook
	# gone, they would refuse every pod in the run's namespaces.
	k delete mutatingwebhookconfiguration "$CONFIG" --ignore-not-found >/dev/null 2>&1
	k delete validatingwebhookconfiguration "$CONFIG" --ignore-not-found >/dev/null 2>&1
	k delete namespace "$NS" "$NS_ISTIO" "$NS_PLAIN" "$NS_BURST" --ignore-not-found \
		--wait=true --timeout=120s >/dev/null 2>&1
	if ((CREATED_CRD)); then
		k delete -f "$DATA/virtualservice-crd.yaml" --ignore-not-found >/dev/null 2>&1
	fi
	if [[ -n $WEBHOOK_PID ]] && kill -0 "$WEBHOOK_PID" 2>/dev/null; then
		kill -TERM "$WEBHOOK_PID"
		wait "$WEBHOOK_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT INT TERM

wait_for() { # wait_for DESCRIPTION COMMAND...: true once COMMAND succeeds
	local what=$1 deadline=$((SECONDS + TIMEOUT))
	shift
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			echo "    timed out after ${TIMEOUT}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

# ---- serving certificate and the webhook ----------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=weir-e2e-webhook-ca" \
	-keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=weir-webhook" \
	-keyout "$WORK/tls.key" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' \
	>"$WORK/ext"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
	-CAcreateserial -days 1 -extfile "$WORK/ext" -out "$WORK/tls.crt" 2>/dev/null

"$WEBHOOK" --listen 127.0.0.1:0 --tls-cert-file "$WORK/tls.crt" --tls-key-file "$WORK/tls.key" \
	--mesh-config "$ROOT/docs/examples/mesh-config.yaml" --threads 4 --log-format json \
	>"$WORK/webhook.log" 2>&1 &
WEBHOOK_PID=$!
PORT=""
for _ in $(seq 100); do
	PORT=$(jq -r 'select(.msg == "serving") | .port' "$WORK/webhook.log" 2>/dev/null | head -1)
	[[ -n $PORT ]] && break
	kill -0 "$WEBHOOK_PID" 2>/dev/null || break
	sleep 0.05
done
[[ -n $PORT ]] || {
	cat "$WORK/webhook.log" >&2
	die "weir-webhook did not start"
}
URL="https://127.0.0.1:$PORT"
echo "# weir-webhook $("$WEBHOOK" --version | awk '{print $2}') on $URL (pid $WEBHOOK_PID, $WEBHOOK)"
check "the webhook answers /healthz over TLS" \
	eq "$(curl -sS --cacert "$WORK/ca.crt" "$URL/healthz")" "ok"

# ---- the VirtualService CRD ---------------------------------------------------
if k get crd virtualservices.networking.istio.io >/dev/null 2>&1; then
	echo "# using the VirtualService CRD already installed"
else
	k apply -f "$DATA/virtualservice-crd.yaml" >/dev/null && CREATED_CRD=1
fi
check "the VirtualService CRD is Established" \
	wait_for "CRD" k wait --for=condition=Established --timeout=5s crd/virtualservices.networking.istio.io

# ---- namespaces -------------------------------------------------------------
k create namespace "$NS" >/dev/null
k create namespace "$NS_ISTIO" >/dev/null
k create namespace "$NS_PLAIN" >/dev/null
k create namespace "$NS_BURST" >/dev/null
k label namespace "$NS" weir-injection=enabled weir.dev/e2e-run="$RUN" >/dev/null
k label namespace "$NS_ISTIO" istio-injection=enabled weir.dev/e2e-run="$RUN" >/dev/null
k label namespace "$NS_PLAIN" weir.dev/e2e-run="$RUN" >/dev/null
k label namespace "$NS_BURST" weir-injection=enabled weir.dev/e2e-run="$RUN" >/dev/null
for ns in "$NS" "$NS_ISTIO" "$NS_PLAIN" "$NS_BURST"; do
	# the ServiceAccount admission plugin refuses pods until "default" exists
	wait_for "serviceaccount default in $ns" k get serviceaccount default -n "$ns" ||
		die "the ServiceAccount controller did not create default in $ns"
done

# ---- webhook configurations ------------------------------------------------
# As docs/webhook.md, plus a selector on this run's label so that only these
# namespaces are ever sent to this webhook.
CA_BUNDLE=$(base64 -w0 <"$WORK/ca.crt")
cat >"$WORK/webhooks.yaml" <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: $CONFIG
webhooks:
- name: inject.weir.dev
  clientConfig:
    url: $URL/inject
    caBundle: $CA_BUNDLE
  rules:
  - operations: [CREATE]
    apiGroups: [""]
    apiVersions: [v1]
    resources: [pods]
    scope: Namespaced
  namespaceSelector:
    matchExpressions:
    - {key: weir-injection, operator: In, values: [enabled]}
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, weir-system]}
    - {key: weir.dev/e2e-run, operator: In, values: [$RUN]}
  objectSelector:
    matchExpressions:
    - {key: sidecar.istio.io/inject, operator: NotIn, values: ["false"]}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
  reinvocationPolicy: Never
- name: inject.istio-label.weir.dev
  clientConfig:
    url: $URL/inject
    caBundle: $CA_BUNDLE
  rules:
  - operations: [CREATE]
    apiGroups: [""]
    apiVersions: [v1]
    resources: [pods]
    scope: Namespaced
  namespaceSelector:
    matchExpressions:
    - {key: istio-injection, operator: In, values: [enabled]}
    - {key: weir-injection, operator: DoesNotExist}
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, weir-system]}
    - {key: weir.dev/e2e-run, operator: In, values: [$RUN]}
  objectSelector:
    matchExpressions:
    - {key: sidecar.istio.io/inject, operator: NotIn, values: ["false"]}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
  reinvocationPolicy: Never
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: $CONFIG
webhooks:
- name: validate.weir.dev
  clientConfig:
    url: $URL/validate
    caBundle: $CA_BUNDLE
  rules:
  - operations: [CREATE, UPDATE]
    apiGroups: [networking.istio.io]
    apiVersions: ["*"]
    resources: [virtualservices, destinationrules, serviceentries]
    scope: Namespaced
  - operations: [CREATE, UPDATE]
    apiGroups: [security.istio.io]
    apiVersions: ["*"]
    resources: [authorizationpolicies, peerauthentications, requestauthentications]
    scope: Namespaced
  namespaceSelector:
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, weir-system]}
    - {key: weir.dev/e2e-run, operator: In, values: [$RUN]}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
EOF
k apply -f "$WORK/webhooks.yaml" >/dev/null || die "cannot register the webhook configurations"

pod_manifest() { # pod_manifest NAME NAMESPACE [ANNOTATIONS_JSON]
	jq -n --arg name "$1" --arg ns "$2" --argjson ann "${3:-null}" '{
		apiVersion: "v1", kind: "Pod",
		metadata: ({name: $name, namespace: $ns, labels: {app: $name}}
			+ (if $ann then {annotations: $ann} else {} end)),
		spec: {containers: [{name: "app", image: "registry.test/app:1",
			ports: [{name: "http", containerPort: 8080}],
			readinessProbe: {httpGet: {path: "/ready", port: "http"}}}]}}'
}
injected_dry_run() {
	pod_manifest probe "$NS" | k create --dry-run=server -o json -f - 2>/dev/null |
		jq -e '.spec.initContainers[]? | select(.name == "weir-proxy")' >/dev/null
}
# The API server picks up new webhook configurations asynchronously.
check "the API server calls the webhook (server-side dry run comes back injected)" \
	wait_for "the webhook to be called" injected_dry_run

# ---- injection --------------------------------------------------------------
pod_manifest web "$NS" | k create -o json -f - >"$WORK/web.json" 2>"$WORK/err"
check "a pod in a weir-injection=enabled namespace is created" test -s "$WORK/web.json"
check "it comes back with weir-init, then weir-proxy with restartPolicy Always" \
	eq "$(jq -c '[.spec.initContainers[] | [.name, .restartPolicy]]' "$WORK/web.json")" \
	'[["weir-init",null],["weir-proxy","Always"]]'
check "weir-init has the capture flags and only NET_ADMIN and NET_RAW" \
	eq "$(jq -c '.spec.initContainers[0] | [.args[0:8], .securityContext.capabilities]' "$WORK/web.json")" \
	'[["--proxy-port","15001","--inbound-capture-port","15006","--proxy-uid","1337","--proxy-gid","1337"],{"add":["NET_ADMIN","NET_RAW"],"drop":["ALL"]}]'
check "the proxy runs as 1337, non-root, read-only root filesystem" \
	eq "$(jq -c '.spec.initContainers[1].securityContext | [.runAsUser, .runAsGroup, .runAsNonRoot, .readOnlyRootFilesystem, .allowPrivilegeEscalation]' "$WORK/web.json")" \
	'[1337,1337,true,true,false]'
check "the volumes: the service account's, then the proxy config, runtime, CA token and pod info" \
	eq "$(jq -c '[.spec.volumes[].name | select(startswith("weir-"))]' "$WORK/web.json")" \
	'["weir-proxy-config","weir-runtime","weir-ca-token","weir-podinfo"]'
check "the annotations: status and Prometheus scraping" \
	eq "$(jq -r '.metadata.annotations | [(."weir.dev/status" | fromjson | .nativeSidecar | tostring), ."prometheus.io/scrape", ."prometheus.io/port"] | join(" ")' "$WORK/web.json")" \
	"true true 15090"
check "the app's readiness probe goes through the proxy" \
	eq "$(jq -c '.spec.containers[0].readinessProbe.httpGet' "$WORK/web.json")" \
	'{"path":"/app-health/app/readyz","port":15021,"scheme":"HTTP"}'
check "the stored pod is the injected one" \
	eq "$(k get pod web -n "$NS" -o json | jq -c '[.spec.initContainers[].name]')" \
	'["weir-init","weir-proxy"]'

pod_manifest web "$NS_ISTIO" | k create -o json -f - >"$WORK/istio.json" 2>"$WORK/err"
check "a pod in an istio-injection=enabled namespace is injected" \
	eq "$(jq -c '[.spec.initContainers[]?.name]' "$WORK/istio.json")" '["weir-init","weir-proxy"]'

pod_manifest web "$NS_PLAIN" | k create -o json -f - >"$WORK/plain.json" 2>"$WORK/err"
check "a pod in an unlabelled namespace is untouched" \
	eq "$(jq -c '[.spec.initContainers, .metadata.annotations]' "$WORK/plain.json")" '[null,null]'

pod_manifest optout "$NS" '{"sidecar.istio.io/inject": "false"}' |
	k create -o json -f - >"$WORK/optout.json" 2>"$WORK/err"
check "a pod annotated sidecar.istio.io/inject: \"false\" is untouched" \
	eq "$(jq -c '[.spec.initContainers, .spec.volumes[]?.name]' "$WORK/optout.json" | grep -c weir)" "0"

pod_manifest regular "$NS" '{"sidecar.istio.io/nativeSidecar": "false"}' |
	k create -o json -f - >"$WORK/regular.json" 2>"$WORK/err"
check "nativeSidecar: \"false\" puts the proxy first among the containers, holding the app" \
	eq "$(jq -c '[[.spec.initContainers[].name], [.spec.containers[].name], .spec.containers[0].lifecycle.postStart.exec.command]' "$WORK/regular.json")" \
	'[["weir-init"],["weir-proxy","app"],["weir-proxy","wait"]]'

pod_manifest typo "$NS" '{"traffic.sidecar.istio.io/excludeOutboundIPRanges": "10.0.0.0/33"}' |
	k create -f - >/dev/null 2>"$WORK/typo.err"
rc=$?
check "a pod with a malformed capture annotation is refused" test "$rc" -ne 0
check "kubectl prints the annotation and the reason" contains "$WORK/typo.err" \
	"admission webhook \"inject.weir.dev\" denied the request: Pod $NS/typo: metadata.annotations[\"traffic.sidecar.istio.io/excludeOutboundIPRanges\"]: \"10.0.0.0/33\": CIDR prefix length must be 0..32"

k create deployment shop --image=registry.test/shop:1 --replicas=2 -n "$NS" >/dev/null 2>&1
deployment_pods_injected() {
	[[ $(k get pods -n "$NS" -l app=shop -o json |
		jq '[.items[] | select(any(.spec.initContainers[]?; .name == "weir-proxy"))] | length') == 2 ]]
}
check "a Deployment's pods, created by the controller manager, are injected" \
	wait_for "2 injected pods of deployment shop" deployment_pods_injected

# ---- validation -------------------------------------------------------------
k apply -n "$NS" -f "$DATA/vs-bad.yaml" >"$WORK/out" 2>"$WORK/vs-bad.err"
rc=$?
check "kubectl apply of a bad VirtualService fails" test "$rc" -ne 0
check "... denied by the webhook" contains "$WORK/vs-bad.err" \
	'admission webhook "validate.weir.dev" denied the request'
check "... naming the weights' field and reason" contains "$WORK/vs-bad.err" \
	"VirtualService $NS/reviews-bad: spec.http[0].route[0].weight: weights must sum to 100, got 140"
check "... and the timeout's" contains "$WORK/vs-bad.err" \
	"VirtualService $NS/reviews-bad: spec.http[0].timeout: invalid duration \"2\""
check "the bad VirtualService was not stored" \
	bash -c "! '$KUBECTL' get virtualservice reviews-bad -n '$NS' >/dev/null 2>&1"

k apply -n "$NS" -f "$DATA/vs-good.yaml" >"$WORK/out" 2>"$WORK/vs-good.err"
rc=$?
check "a good VirtualService is accepted" test "$rc" -eq 0
check "... without warnings" bash -c "! grep -q Warning '$WORK/vs-good.err'"
k patch virtualservice reviews -n "$NS" --type merge \
	-p '{"spec":{"http":[{"route":[{"destination":{"host":"reviews"}}],"timeout":"soon"}]}}' \
	>/dev/null 2>"$WORK/vs-update.err"
rc=$?
check "an UPDATE that breaks it is refused too" test "$rc" -ne 0
check "... with the reason" contains "$WORK/vs-update.err" 'spec.http[0].timeout: invalid duration "soon"'

k apply -n "$NS" -f "$DATA/vs-unsupported.yaml" >"$WORK/out" 2>"$WORK/vs-unsup.err"
rc=$?
check "a VirtualService with an unsupported field is accepted" test "$rc" -eq 0
check "... and kubectl prints the webhook's warning" contains "$WORK/vs-unsup.err" \
	"Warning: VirtualService $NS/reviews-gateway-match: spec.http[0].match[0].gateways: field is not supported by Weir yet"

# ---- burst --------------------------------------------------------------------
bucket_counts() { # the inject histogram as "le count" lines
	curl -sS --cacert "$WORK/ca.crt" "$URL/metrics" |
		awk '/^weir_webhook_admission_duration_seconds_bucket\{endpoint="inject"/ {
			match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5); print le, $NF }'
}
apiserver_buckets() { # the API server's view of the same webhook
	k get --raw /metrics 2>/dev/null |
		awk '/^apiserver_admission_webhook_admission_duration_seconds_bucket/ && /name="inject.weir.dev"/ && /operation="CREATE"/ && /rejected="false"/ {
			match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5); print le, $NF }'
}
# A quantile of the requests between two snapshots of a cumulative histogram,
# interpolated inside the bucket as Prometheus' histogram_quantile does.
quantile() { # quantile Q BEFORE AFTER
	awk -v q="$1" 'NR == FNR { before[$1] = $2; next }
		{ le[n] = $1; c[n] = $2 - before[$1]; n++ }
		END {
			total = c[n - 1]; if (total <= 0) { print "n/a"; exit }
			rank = q * total; lo = 0; prev = 0
			for (i = 0; i < n; i++) {
				if (c[i] >= rank) {
					if (le[i] == "+Inf") { printf "> %s s\n", le[i - 1]; exit }
					hi = le[i] + 0; frac = (c[i] == prev) ? 1 : (rank - prev) / (c[i] - prev)
					printf "%.2f ms\n", (lo + (hi - lo) * frac) * 1000; exit
				}
				lo = le[i] + 0; prev = c[i]
			}
		}' "$2" "$3"
}
connections() {
	curl -sS --cacert "$WORK/ca.crt" "$URL/metrics" | awk '$1 == "weir_webhook_connections_total" {print $2}'
}
conn_before=$(connections)
bucket_counts >"$WORK/hook.before"
apiserver_buckets >"$WORK/api.before"
start=$(date +%s.%N)
seq 1 "$BURST" | xargs -P "$PARALLEL" -I{} "$KUBECTL" --request-timeout=30s run "burst-{}" \
	-n "$NS_BURST" --image=registry.test/app:1 --restart=Never >"$WORK/burst.out" 2>"$WORK/burst.err"
end=$(date +%s.%N)
bucket_counts >"$WORK/hook.after"
conn_after=$(connections)
apiserver_buckets >"$WORK/api.after"
created=$(grep -c ' created$' "$WORK/burst.out")
check "$BURST pods created $PARALLEL at a time, none refused" eq "$created" "$BURST"
[[ -s $WORK/burst.err ]] && sed 's/^/    | /' "$WORK/burst.err" | head -5
check "all $BURST are injected" \
	eq "$(k get pods -n "$NS_BURST" -o json |
		jq '[.items[] | select(any(.spec.initContainers[]?; .name == "weir-proxy" and .restartPolicy == "Always"))] | length')" \
	"$BURST"
echo "# burst: $BURST pods in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s" \
	"($(awk -v a="$start" -v b="$end" -v n="$BURST" 'BEGIN { printf "%.0f", n / (b - a) }') pods/s," \
	"kubectl process start included); $((conn_after - conn_before)) TLS connections to the webhook"
echo "# admission latency, webhook (body in -> response out): p50 $(quantile 0.5 "$WORK/hook.before" "$WORK/hook.after"), p99 $(quantile 0.99 "$WORK/hook.before" "$WORK/hook.after")"
if [[ -s $WORK/api.after ]]; then
	echo "# admission latency, API server (call to inject.weir.dev incl. TLS; buckets 5/25/100 ms): p50 $(quantile 0.5 "$WORK/api.before" "$WORK/api.after"), p99 $(quantile 0.99 "$WORK/api.before" "$WORK/api.after")"
fi

# ---- the webhook's own account ------------------------------------------------
curl -sS --cacert "$WORK/ca.crt" "$URL/metrics" >"$WORK/metrics"
metric() { awk -v k="$1" '$1 == k {print $2}' "$WORK/metrics"; }
injected=$(metric 'weir_webhook_admission_requests_total{endpoint="inject",result="injected"}')
check "the webhook counted at least the $BURST burst injections" test "${injected:-0}" -ge "$BURST"
check "the webhook counted the refused pod and the denied VirtualServices" \
	eq "$(metric 'weir_webhook_admission_requests_total{endpoint="inject",result="refused"}') $(metric 'weir_webhook_admission_requests_total{endpoint="validate",result="denied"}')" "1 2"
check "the webhook logged no error" \
	bash -c "! jq -e 'select(.level == \"error\")' '$WORK/webhook.log' >/dev/null 2>&1"
check "no sanitizer report" bash -c "! grep -q Sanitizer '$WORK/webhook.log'"

# ---- clean up: webhooks first -------------------------------------------------
k delete mutatingwebhookconfiguration "$CONFIG" >/dev/null 2>&1
k delete validatingwebhookconfiguration "$CONFIG" >/dev/null 2>&1
kill -TERM "$WEBHOOK_PID"
wait "$WEBHOOK_PID"
rc=$?
WEBHOOK_PID=""
check "the webhook exits 0 on SIGTERM" eq "$rc" 0
if ((FAILED)); then
	echo "# webhook log (last lines):"
	tail -20 "$WORK/webhook.log" | sed 's/^/#   /'
fi
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
