# shellcheck shell=bash
# Functions to run Weir's programs next to a cluster started by e2e/cluster/up
# and register them with its API server. Generic: they take names, paths and
# URLs, so an e2e suite can run its own webhook (with its own configuration
# names and an extra namespace selector) the same way e2e/install/weir.sh
# installs the mesh. Source e2e/cluster/env.sh first.
#
# Processes are started detached (setsid) and recorded where
# e2e/cluster/down finds and stops them, before the control plane:
#
#   $WEIR_CLUSTER_DIR/pids/extra/NAME.pid   line 1: the PID
#                                           line 2: the absolute path of the binary it runs
#   $WEIR_CLUSTER_DIR/logs/NAME.log         its stdout and stderr (the previous
#                                           run's log is kept as NAME.log.1)
#
# NAME and the binary's file name start with "weir-"; down signals a PID only
# while /proc/PID/exe is still that binary, so a PID reused by the kernel for
# something else is never touched.

# Results for the caller: the PID of the last process started, the URL of the
# last webhook started.
# shellcheck disable=SC2034
WEIR_PROC_PID="" WEIR_WEBHOOK_URL=""
WEIR_EXTRA_PIDS="$WEIR_CLUSTER_DIR/pids/extra"
WEIR_EXTRA_LOGS="$WEIR_CLUSTER_DIR/logs"

weir_die() {
	echo "${0##*/}: error: $*" >&2
	exit 1
}

# weir_log_tail NAME [LINES]: the end of a process's log, on stderr.
weir_log_tail() {
	local log="$WEIR_EXTRA_LOGS/$1.log"
	if [[ -s $log ]]; then
		echo "---- last ${2:-30} lines of $log ----" >&2
		tail -n "${2:-30}" "$log" >&2
		echo "----" >&2
	else
		echo "($log is empty or missing)" >&2
	fi
}

# weir_proc_pid NAME: print the PID of NAME if it is alive and still runs the
# binary it was started from (also when that file was since replaced by a
# rebuild, which /proc shows as "PATH (deleted)").
weir_proc_pid() {
	local file="$WEIR_EXTRA_PIDS/$1.pid" pid="" bin="" exe
	[[ -r $file ]] || return 1
	{
		read -r pid
		read -r bin
	} <"$file" || true
	[[ $pid =~ ^[0-9]+$ && $bin == /* ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	[[ $exe == "$bin" || $exe == "$bin (deleted)" ]] || return 1
	echo "$pid"
}

# weir_proc_stale NAME BINARY: true if NAME runs something else than BINARY
# as it is on disk now: another path, or a file that a rebuild has replaced
# since it started.
weir_proc_stale() {
	local pid want
	pid=$(weir_proc_pid "$1") || return 1
	want=$(readlink -f "$2" 2>/dev/null) || return 0
	[[ $(readlink "/proc/$pid/exe" 2>/dev/null) != "$want" ]]
}

# weir_proc_start NAME BINARY [ARGS...]: start BINARY detached, with NAME's log
# and PID file; print nothing, set WEIR_PROC_PID. Environment for the process
# can be given as assignments before the call (FOO=bar weir_proc_start ...).
weir_proc_start() {
	local name=$1 bin i
	bin=$(readlink -f "$2" 2>/dev/null) || bin=""
	[[ -n $bin && -x $bin ]] || weir_die "$2 is not an executable"
	shift 2
	[[ $name == weir-* && ${bin##*/} == weir-* ]] ||
		weir_die "weir_proc_start: $name ($bin) is not a Weir program; e2e/cluster/down would not stop it"
	mkdir -p "$WEIR_EXTRA_PIDS" "$WEIR_EXTRA_LOGS"
	rm -f "$WEIR_EXTRA_PIDS/$name.pid"
	[[ -e $WEIR_EXTRA_LOGS/$name.log ]] && mv -f "$WEIR_EXTRA_LOGS/$name.log" "$WEIR_EXTRA_LOGS/$name.log.1"
	# setsid: the process outlives the caller and a Ctrl-C aimed at its
	# terminal. The shell in between writes its own PID and then becomes the
	# binary (exec), so the file names the binary's process whether or not
	# setsid had to fork.
	# shellcheck disable=SC2016
	setsid bash -c 'printf "%s\n%s\n" "$$" "$1" >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' \
		"$WEIR_EXTRA_PIDS/$name.pid" "$bin" "$@" </dev/null >"$WEIR_EXTRA_LOGS/$name.log" 2>&1 &
	for ((i = 0; i < 50; i++)); do
		WEIR_PROC_PID=$(weir_proc_pid "$name") && return 0
		sleep 0.1
	done
	weir_log_tail "$name"
	weir_die "$name did not start ($bin)"
}

# weir_proc_start_in_pod NAME BINARY SA_DIR HOST PORT [ARGS...]: like
# weir_proc_start, but the way a kubelet runs a container with a
# ServiceAccount: in a private mount namespace (unshare) where SA_DIR (token,
# ca.crt, namespace) is bind-mounted read-only on
# /var/run/secrets/kubernetes.io/serviceaccount, with KUBERNETES_SERVICE_HOST
# and KUBERNETES_SERVICE_PORT set and KUBECONFIG unset, so the program takes
# its in-cluster configuration. Files replaced in SA_DIR show inside, as a
# kubelet's token refresh does. Where the host has no /run/secrets, a tmpfs
# over /run inside that namespace holds the mount point: the host's own mounts
# and folders are never touched. Needs root (mount namespaces).
weir_proc_start_in_pod() {
	local name=$1 bin sa=$3 host=$4 port=$5 i
	bin=$(readlink -f "$2" 2>/dev/null) || bin=""
	[[ -n $bin && -x $bin ]] || weir_die "$2 is not an executable"
	[[ -r $sa/token && -r $sa/ca.crt && -r $sa/namespace ]] ||
		weir_die "weir_proc_start_in_pod: $sa needs token, ca.crt and namespace"
	sa=$(readlink -f "$sa")
	shift 5
	[[ $name == weir-* && ${bin##*/} == weir-* ]] ||
		weir_die "weir_proc_start_in_pod: $name ($bin) is not a Weir program; e2e/cluster/down would not stop it"
	command -v unshare >/dev/null || weir_die "unshare not found (util-linux)"
	mkdir -p "$WEIR_EXTRA_PIDS" "$WEIR_EXTRA_LOGS"
	rm -f "$WEIR_EXTRA_PIDS/$name.pid"
	[[ -e $WEIR_EXTRA_LOGS/$name.log ]] && mv -f "$WEIR_EXTRA_LOGS/$name.log" "$WEIR_EXTRA_LOGS/$name.log.1"
	# unshare without --fork and setsid in a background job do not fork: the
	# shell's PID is the program's after exec, as in weir_proc_start.
	# shellcheck disable=SC2016
	KUBERNETES_SERVICE_HOST=$host KUBERNETES_SERVICE_PORT=$port \
		setsid unshare --mount --propagation private -- bash -c '
		set -e
		pidfile=$0 sa=$1 bin=$2
		shift 2
		dir=/var/run/secrets/kubernetes.io/serviceaccount
		[[ -d /run/secrets ]] || mount -t tmpfs -o mode=0755,size=1m weir-pod-run /run
		mkdir -p "$dir"
		mount --bind "$sa" "$dir"
		mount -o remount,bind,ro "$dir"
		unset KUBECONFIG
		printf "%s\n%s\n" "$$" "$bin" >"$pidfile.tmp" && mv -f "$pidfile.tmp" "$pidfile"
		exec "$bin" "$@"' "$WEIR_EXTRA_PIDS/$name.pid" "$sa" "$bin" "$@" \
		</dev/null >"$WEIR_EXTRA_LOGS/$name.log" 2>&1 &
	for ((i = 0; i < 50; i++)); do
		WEIR_PROC_PID=$(weir_proc_pid "$name") && return 0
		sleep 0.1
	done
	weir_log_tail "$name"
	weir_die "$name did not start in its mount namespace ($bin)"
}

# weir_proc_stop NAME [GRACE_SECONDS]: SIGTERM, then SIGKILL after the grace
# period (default 10 s); removes the PID file.
weir_proc_stop() {
	local name=$1 grace=${2:-10} pid i
	if pid=$(weir_proc_pid "$name"); then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			readlink "/proc/$pid/exe" >/dev/null 2>&1 || break
			sleep 0.1
		done
		if readlink "/proc/$pid/exe" >/dev/null 2>&1; then
			echo "$name (pid $pid) did not exit within ${grace}s of SIGTERM; sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$WEIR_EXTRA_PIDS/$name.pid"
}

# weir_serving_cert DIR [CN]: DIR/ca.{crt,key} and DIR/tls.{crt,key}, a
# serving certificate for IP 127.0.0.1 signed by that CA. The API server
# checks a webhook URL's IP against the certificate's IP SANs (never the CN).
# Kept when DIR already holds a valid pair that lasts at least another day.
weir_serving_cert() {
	local dir=$1 cn=${2:-weir-webhook}
	if [[ -s $dir/ca.crt && -s $dir/tls.crt && -s $dir/tls.key ]] &&
		openssl verify -CAfile "$dir/ca.crt" "$dir/tls.crt" >/dev/null 2>&1 &&
		openssl x509 -noout -checkend 86400 -in "$dir/tls.crt" >/dev/null 2>&1 &&
		openssl x509 -noout -checkip 127.0.0.1 -in "$dir/tls.crt" 2>/dev/null | grep -q 'does match'; then
		return 0
	fi
	mkdir -p "$dir" || weir_die "cannot create $dir"
	(
		umask 077
		cd "$dir" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj "/CN=$cn-ca" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
			-keyout ca.key -out ca.crt &&
			openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$cn" -keyout tls.key -out tls.csr &&
			printf '%s\n' "basicConstraints=critical,CA:FALSE" \
				"keyUsage=critical,digitalSignature,keyEncipherment" \
				"extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1" >tls.ext &&
			openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 30 \
				-extfile tls.ext -out tls.crt &&
			rm -f tls.csr tls.ext ca.srl
	) >"$dir/openssl.log" 2>&1 || {
		cat "$dir/openssl.log" >&2
		weir_die "could not make the serving certificate in $dir"
	}
	chmod 644 "$dir/ca.crt" "$dir/tls.crt"
}

# weir_healthz URL [CA_FILE]: true when URL/healthz answers "ok"; over TLS,
# the server is verified against CA_FILE.
weir_healthz() {
	[[ "$(curl -sS --max-time 2 ${2:+--cacert "$2"} "$1/healthz" 2>/dev/null)" == ok ]]
}

# weir_log_port NAME MESSAGE: wait (up to 10 s) for the JSON log line of NAME
# whose msg is MESSAGE and print its "port" (Weir's programs log the port they
# bound, which is how port 0 is used).
weir_log_port() {
	local name=$1 msg=$2 port="" i
	for ((i = 0; i < 100; i++)); do
		port=$(jq -r --arg m "$msg" 'select(.msg == $m) | .port // empty' \
			"$WEIR_EXTRA_LOGS/$name.log" 2>/dev/null | head -1)
		[[ -n $port ]] && break
		weir_proc_pid "$name" >/dev/null || break
		sleep 0.1
	done
	if [[ -z $port ]]; then
		weir_log_tail "$name"
		weir_die "$name did not log \"$msg\" with its port (log: $WEIR_EXTRA_LOGS/$name.log)"
	fi
	echo "$port"
}

# weir_webhook_start NAME BINARY CERT_DIR MESH_CONFIG [ARGS...]: run
# weir-webhook on 127.0.0.1 on a port the kernel picks, with CERT_DIR's
# tls.crt and tls.key, and wait until it answers /healthz over TLS. Sets
# WEIR_WEBHOOK_URL (https://127.0.0.1:PORT) and WEIR_PROC_PID.
weir_webhook_start() {
	local name=$1 bin=$2 certs=$3 mesh=$4 port i
	shift 4
	weir_proc_start "$name" "$bin" --listen 127.0.0.1:0 \
		--tls-cert-file "$certs/tls.crt" --tls-key-file "$certs/tls.key" \
		--mesh-config "$mesh" --log-format json "$@"
	port=$(weir_log_port "$name" serving) || exit 1
	WEIR_WEBHOOK_URL="https://127.0.0.1:$port"
	for ((i = 0; i < 50; i++)); do
		weir_healthz "$WEIR_WEBHOOK_URL" "$certs/ca.crt" && return 0
		sleep 0.1
	done
	weir_log_tail "$name"
	weir_die "$name listens on $WEIR_WEBHOOK_URL but /healthz does not answer ok over TLS"
}

# weir_webhook_configurations MUTATING_NAME VALIDATING_NAME URL CA_FILE [EXPR]:
# print the MutatingWebhookConfiguration and ValidatingWebhookConfiguration of
# docs/webhook.md, registered by URL with CA_FILE as caBundle, failing closed,
# never for kube-system and weir-system. EXPR, when given, is one more
# namespaceSelector matchExpression in flow style, added to every webhook
# (a test scopes the webhooks to its own namespaces with it), e.g.
#   '{key: weir.dev/e2e-run, operator: In, values: [run-42]}'
weir_webhook_configurations() {
	local mutating=$1 validating=$2 url=$3 ca extra=""
	ca=$(base64 -w0 <"$4") || weir_die "cannot read $4"
	[[ -n ${5:-} ]] && extra="
    - $5"
	local inject="  clientConfig:
    url: $url/inject
    caBundle: $ca
  rules:
  - {operations: [CREATE], apiGroups: [\"\"], apiVersions: [v1], resources: [pods], scope: Namespaced}"
	local system="    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, weir-system]}$extra"
	local tail="  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10"
	cat <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: $mutating
  labels: {app.kubernetes.io/part-of: weir}
webhooks:
# Namespaces labelled weir-injection=enabled.
- name: inject.weir.dev
$inject
  namespaceSelector:
    matchExpressions:
    - {key: weir-injection, operator: In, values: [enabled]}
$system
  objectSelector:
    matchExpressions:
    - {key: sidecar.istio.io/inject, operator: NotIn, values: ["false"]}
$tail
  reinvocationPolicy: Never
# Namespaces labelled the Istio way, unless Weir's own label says otherwise.
- name: inject.istio-label.weir.dev
$inject
  namespaceSelector:
    matchExpressions:
    - {key: istio-injection, operator: In, values: [enabled]}
    - {key: weir-injection, operator: DoesNotExist}
$system
  objectSelector:
    matchExpressions:
    - {key: sidecar.istio.io/inject, operator: NotIn, values: ["false"]}
$tail
  reinvocationPolicy: Never
# Pods that opt in by label in namespaces with neither label.
- name: inject.object.weir.dev
$inject
  namespaceSelector:
    matchExpressions:
    - {key: weir-injection, operator: DoesNotExist}
    - {key: istio-injection, operator: DoesNotExist}
$system
  objectSelector:
    matchExpressions:
    - {key: sidecar.istio.io/inject, operator: In, values: ["true"]}
$tail
  reinvocationPolicy: Never
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: $validating
  labels: {app.kubernetes.io/part-of: weir}
webhooks:
- name: validate.weir.dev
  clientConfig:
    url: $url/validate
    caBundle: $ca
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
  - operations: [CREATE, UPDATE]
    apiGroups: [policy.weir.dev]
    apiVersions: ["*"]
    resources: [ratelimitpolicies]
    scope: Namespaced
  namespaceSelector:
    matchExpressions:
$system
$tail
EOF
}
