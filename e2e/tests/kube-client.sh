#!/usr/bin/env bash
# The Kubernetes client in lib/kube/ against a real kube-apiserver, through
# the small program kube_client_check (e2e/tests/kube_client_check.c):
#
#   crud      a namespace; 250 ConfigMaps listed with limit=100 (3 pages via
#             continue); label and field selectors; get; a PUT with a stale
#             resourceVersion (409 with the API server's message); merge and
#             JSON patch; server-side apply twice (idempotent, managedFields)
#             and with force; a CRD applied and its status subresource
#             updated and patched; an Event; delete and 404
#   auth      a kubeconfig with CA and client certificate files and
#             tls-server-name, and one with a relative tokenFile: the API
#             server names the expected user; a CA that did not sign the server
#             is refused; the in-cluster layout (token, ca.crt, namespace)
#             works, and a token file replaced by another ServiceAccount's is
#             used from the next request on
#   informer  250 adds on sync, then kubectl create / patch / delete seen by
#             the add / update (old and new) / delete handlers
#   watch     a raw watch with allowWatchBookmarks and timeoutSeconds
#   gone      a watch from resourceVersion=1 after etcd compaction: 410
#   resume    an informer with 3 s watches sees every one of 24 updates once,
#             in order, across reconnects, without relisting
#   relist    an informer whose next watch hits a compacted version relists
#   stall     SIGSTOP / SIGCONT of the kube-apiserver: requests time out, and
#             the informer resumes afterwards (only on a cluster this script
#             started, or with WEIR_E2E_ALLOW_DISRUPT=1: freezing an API server
#             others are using would fail their tests)
#
# A cluster already up in $WEIR_CLUSTER_DIR is reused and left running;
# otherwise one is started with e2e/cluster/up and stopped at the end. The
# two "gone" checks compact etcd to its current revision through its HTTP
# gateway, which the API server itself does every 5 minutes.
#
# The program comes from $WEIR_BUILD_DIR (default build/): the
# kube_client_check target when the build has it, else it is compiled here
# against that build's libweir.a.
#
# Output is TAP-like, one "ok N - ..." or "not ok N - ..." per check, then
# "N passed, M failed"; the exit status is non-zero if a check failed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../cluster/env.sh
. "$ROOT/e2e/cluster/env.sh"
# shellcheck source=../cluster/lib.sh
. "$ROOT/e2e/cluster/lib.sh"

for tool in curl jq openssl pkg-config; do
	command -v "$tool" >/dev/null || die "$tool not found (see scripts/install-deps.sh)"
done

BUILD="${WEIR_BUILD_DIR:-$ROOT/build}"
NS="weir-kube-client-$(date +%s)-$$"
CRD=gadgets.kube-client.e2e.weir.test
WORK=$(mktemp -d)
STARTED_CLUSTER=0
STOPPED_PID=

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

cleanup() {
	local rc=$?
	# Never leave an API server frozen, whatever happened above.
	[[ -n $STOPPED_PID ]] && kill -CONT "$STOPPED_PID" 2>/dev/null
	if [[ -s $KUBECONFIG ]]; then
		k delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
		k delete crd "$CRD" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
	if ((STARTED_CLUSTER)); then
		"$ROOT/e2e/cluster/down" >/dev/null || true
	fi
	exit "$rc"
}
trap cleanup EXIT

# ---- the cluster ---------------------------------------------------------------
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
# shellcheck disable=SC1091
. "$WEIR_CLUSTER_DIR/ports.env"

# ---- the program ---------------------------------------------------------------
CHECK="$BUILD/e2e/tests/kube_client_check"
if [[ -f $BUILD/build.ninja ]] && grep -q 'kube_client_check' "$BUILD/build.ninja"; then
	cmake --build "$BUILD" --target kube_client_check >"$WORK/build.log" 2>&1 ||
		{ cat "$WORK/build.log" >&2; die "building kube_client_check failed"; }
elif [[ -f $BUILD/lib/libweir.a ]]; then
	# The build does not have the target (e2e/tests not added to it): compile
	# the program against its library, with its sanitizer setting.
	CHECK="$WORK/kube_client_check"
	san=()
	grep -q '^WEIR_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null &&
		san=("-fsanitize=address,undefined" -fno-omit-frame-pointer)
	# shellcheck disable=SC2046
	cc -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g "${san[@]}" -I"$ROOT/lib" \
		"$HERE/kube_client_check.c" "$BUILD/lib/libweir.a" \
		$(pkg-config --cflags --libs jansson yaml-0.1 re2 libcurl libcrypto) -lstdc++ -lm -pthread \
		-o "$CHECK" 2>"$WORK/build.log" ||
		{ cat "$WORK/build.log" >&2; die "compiling kube_client_check failed"; }
else
	die "no build in $BUILD (set WEIR_BUILD_DIR, or: cmake -S . -B build -G Ninja && ninja -C build)"
fi
[[ -x $CHECK ]] || die "$CHECK was not built"

# step NAME ARGS...: runs one scenario of the program and numbers its checks.
step() {
	local name=$1 line rc=0 any_fail=0
	shift
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*)
			not_ok "${line#not ok - }"
			any_fail=1
			;;
		"exit "*) rc=${line#exit } ;;
		*) echo "$line" ;;
		esac
	done < <(
		"$CHECK" "$@" 2>"$WORK/$name.err"
		echo "exit $?"
	)
	if ((rc != 0 && !any_fail)); then
		not_ok "$name: kube_client_check exited with status $rc" "$(tail -n 30 "$WORK/$name.err")"
	elif ((rc != 0)); then
		tail -n 30 "$WORK/$name.err" | sed 's/^/#   stderr: /'
	fi
	return 0
}

# A command for the program: compact etcd to its current revision.
ETCD_URL="http://127.0.0.1:$WEIR_ETCD_CLIENT_PORT"
cat >"$WORK/compact.sh" <<EOF
set -e
rev=\$(curl -fsS --max-time 5 -X POST "$ETCD_URL/v3/kv/range" -d '{"key":"AA=="}' | jq -r .header.revision)
curl -fsS --max-time 10 -X POST "$ETCD_URL/v3/kv/compaction" -d "{\"revision\":\"\$rev\",\"physical\":true}" >/dev/null
EOF

step crud crud "$NS" "$HERE/testdata/kube/gadget-crd.yaml"

# ---- credentials: kubeconfig variants and an in-cluster mount -------------------
# Client certificate and CA as files, with tls-server-name (the URL says
# 127.0.0.1, the certificate is checked for the service name); a relative
# tokenFile of a ServiceAccount; a CA that did not sign the server; and the
# in-cluster layout, whose token is replaced by another ServiceAccount's.
PKI="$WEIR_CLUSTER_DIR/pki"
SERVER="https://127.0.0.1:$WEIR_APISERVER_PORT"
if k create serviceaccount kube-client-a -n "$NS" >/dev/null &&
	k create serviceaccount kube-client-b -n "$NS" >/dev/null &&
	k create token kube-client-a -n "$NS" >"$WORK/sa-a.token" &&
	k create token kube-client-b -n "$NS" >"$WORK/sa-b.token" &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/other-ca.key" \
		-out "$WORK/other-ca.crt" -subj /CN=not-the-cluster-ca -days 1 2>/dev/null; then
	cat >"$WORK/files.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
current-context: files
clusters:
  - name: local
    cluster:
      server: $SERVER
      certificate-authority: $PKI/ca.crt
      tls-server-name: kubernetes.default.svc
contexts:
  - name: files
    context: {cluster: local, user: admin}
users:
  - name: admin
    user:
      client-certificate: $PKI/admin.crt
      client-key: $PKI/admin.key
KUBECONFIG
	for ca in ca other-ca; do
		if [[ $ca == ca ]]; then ca_file=$PKI/ca.crt; else ca_file=other-ca.crt; fi
		cat >"$WORK/token-$ca.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
current-context: sa
clusters:
  - name: local
    cluster: {server: "$SERVER", certificate-authority: "$ca_file"}
contexts:
  - name: sa
    context: {cluster: local, user: sa, namespace: $NS}
users:
  - name: sa
    user: {tokenFile: sa-a.token}
KUBECONFIG
	done
	mkdir "$WORK/sa"
	cp "$WORK/sa-a.token" "$WORK/sa/token"
	cp "$PKI/ca.crt" "$WORK/sa/ca.crt"
	echo "$NS" >"$WORK/sa/namespace"

	step auth-files auth "$WORK/files.kubeconfig" weir-e2e-admin kubernetes.default.svc
	step auth-token auth "$WORK/token-ca.kubeconfig" "system:serviceaccount:$NS:kube-client-a"
	step badca badca "$WORK/token-other-ca.kubeconfig"
	export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$WEIR_APISERVER_PORT
	step incluster incluster "$WORK/sa" "system:serviceaccount:$NS:kube-client-a" \
		"$WORK/sa-b.token" "system:serviceaccount:$NS:kube-client-b"
	unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
else
	not_ok "prepare ServiceAccount tokens and a foreign CA for the credential checks"
fi
step informer informer "$NS"
step watch watch "$NS"
if bash "$WORK/compact.sh" 2>"$WORK/compact.err"; then
	step gone gone
else
	not_ok "compact etcd for the 410 check" "$(cat "$WORK/compact.err")"
fi
step resume resume "$NS"
step relist relist "$NS" "bash $WORK/compact.sh"

if ((STARTED_CLUSTER)) || [[ ${WEIR_E2E_ALLOW_DISRUPT:-0} == 1 ]]; then
	if APISERVER_PID=$(pid_of kube-apiserver); then
		STOPPED_PID=$APISERVER_PID
		step stall stall "$NS" "$APISERVER_PID"
		kill -CONT "$APISERVER_PID" 2>/dev/null || true
		STOPPED_PID=
	else
		not_ok "find the kube-apiserver pid in $WEIR_PIDS"
	fi
else
	skip "SIGSTOP/SIGCONT of the API server" \
		"the cluster is shared (not started here); set WEIR_E2E_ALLOW_DISRUPT=1 to run it"
fi

echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
