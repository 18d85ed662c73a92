#!/usr/bin/env bash
# Build the Kubernetes control-plane binaries (kube-apiserver,
# kube-controller-manager, kubectl), etcd and helm from their Go modules into
# the cache dir named in env.sh. Idempotent: a binary that is already present
# and was built from the current recipe is not rebuilt, and when all are, this
# returns at once and prints nothing. Otherwise it prints one line per binary
# built, with the seconds it took.
#
# Each binary is linked to a temporary file in its final directory and renamed
# into place, so an interrupted build never leaves a truncated binary that a
# later run would mistake for a finished one.
#
# The cache directories are keyed by release version. Next to each binary's
# bin/ dir a NAME.recipe file holds a hash of what it was built from (the
# wrapper's go.mod and go.sum and the link flags), so changing a pin or a
# version stamp without changing the version still rebuilds it.
#
# Environment: WEIR_CACHE_DIR (default /var/cache/weir), WEIR_BUILD_JOBS
# (go build -p, default 2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
. "$HERE/env.sh"

die() {
	echo "build.sh: $*" >&2
	exit 1
}

# ---- version stamps ----------------------------------------------------------
# helm refuses charts whose kubeVersion constraint does not match, and it reads
# the server version from /version, so the binaries must report the real
# release instead of the v0.0.0-master default. The build date is fixed to the
# release's tag time so rebuilds are reproducible. The sources come from the
# module proxy, not a git checkout, so there is no commit sha to stamp:
# gitCommit is left empty rather than made up.
k8s_minor=${WEIR_K8S_VERSION#v1.}
k8s_minor=${k8s_minor%%.*}
kube_ld=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ld+=" -X $pkg.gitVersion=$WEIR_K8S_VERSION"
	kube_ld+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
	kube_ld+=" -X $pkg.gitCommit="
	kube_ld+=" -X $pkg.gitTreeState=clean"
	kube_ld+=" -X $pkg.buildDate=2026-02-10T12:53:36Z"
done

# etcd's version is a constant in its api module; only its GitSHA is stamped.
etcd_ld="-X go.etcd.io/etcd/api/v3/version.GitSHA="

# helm's own version plus the Kubernetes version its chart checks default to
# (helm's Makefile derives these from its client-go, v0.34 -> 1.34).
helm_ld="-X helm.sh/helm/v3/internal/version.version=$WEIR_HELM_VERSION"
helm_ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
	helm_ld+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

# NAME MODDIR PACKAGE OUTPUT LDFLAGS, smallest first, so a short run still
# produces the client tools.
TARGETS=(
	"kubectl|kube|k8s.io/kubernetes/cmd/kubectl|$KUBECTL|$kube_ld"
	"helm|helm|helm.sh/helm/v3/cmd/helm|$HELM|$helm_ld"
	"etcd|etcd|.|$ETCD|$etcd_ld"
	"kube-apiserver|kube|k8s.io/kubernetes/cmd/kube-apiserver|$KUBE_APISERVER|$kube_ld"
	"kube-controller-manager|kube|k8s.io/kubernetes/cmd/kube-controller-manager|$KUBE_CONTROLLER_MANAGER|$kube_ld"
)

# recipe MODDIR PACKAGE LDFLAGS: hash of everything the binary is built from.
recipe() {
	{
		cat "$HERE/build/$1/go.mod" "$HERE/build/$1/go.sum"
		printf '%s\n' "$2" "$3"
	} | sha256sum | cut -c1-32
}
recipe_file() { # OUTPUT -> .../<version dir>/NAME.recipe
	echo "$(dirname "$(dirname "$1")")/$(basename "$1").recipe"
}
up_to_date() { # OUTPUT RECIPE
	local f
	f=$(recipe_file "$1")
	[[ -x $1 && -r $f && "$(<"$f")" == "$2" ]]
}

# Fast path: everything is there and current. No go, no lock, no output.
all_current=1
for t in "${TARGETS[@]}"; do
	IFS='|' read -r name moddir pkg out ldflags <<<"$t"
	up_to_date "$out" "$(recipe "$moddir" "$pkg" "$ldflags")" || { all_current=0; break; }
done
((all_current)) && exit 0

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
    PATH="/usr/local/go/bin:$PATH" # where this machine kind installs Go
fi
command -v go >/dev/null || die "go not found on PATH (the cluster binaries are built from Go modules)"
command -v flock >/dev/null || die "flock not found (util-linux)"

mkdir -p "$WEIR_K8S_BIN" "$WEIR_ETCD_BIN" "$WEIR_HELM_BIN" 2>/dev/null ||
	die "cannot create cache dirs under $WEIR_CACHE_DIR (set WEIR_CACHE_DIR to a writable dir)"

# Two concurrent runs (e.g. two test jobs) would otherwise build the same
# binary twice on a 2-core machine. The second waits, then finds it present.
exec 9>"$WEIR_CACHE_DIR/.build.lock"
flock 9

# The version in the cache path must be the one the wrapper module pins, or the
# cache would hold a binary that does not match its directory name.
check_pin() { # moddir module version
	grep -Eq "^[[:space:]]*(require[[:space:]]+)?$2[[:space:]]+$3([[:space:]]|$)" "$HERE/build/$1/go.mod" ||
		die "build/$1/go.mod does not pin $2 $3 (update env.sh and the go.mod together)"
}
check_pin kube k8s.io/kubernetes "$WEIR_K8S_VERSION"
check_pin etcd go.etcd.io/etcd/server/v3 "$WEIR_ETCD_VERSION"
check_pin helm helm.sh/helm/v3 "$WEIR_HELM_VERSION"

JOBS="${WEIR_BUILD_JOBS:-2}"
TMP_OUT=""
cleanup() {
	if [[ -n $TMP_OUT ]]; then rm -f "$TMP_OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# build NAME MODDIR PACKAGE OUTPUT LDFLAGS
build() {
	local name=$1 moddir=$2 pkg=$3 out=$4 ldflags=$5 want start rf
	want=$(recipe "$moddir" "$pkg" "$ldflags")
	up_to_date "$out" "$want" && return 0
	# Leftovers of a run killed with SIGKILL (we hold the lock, so no other
	# build is writing them).
	rm -f "$(dirname "$out")/.$name".*
	start=$(date +%s)
	TMP_OUT="$(mktemp "$(dirname "$out")/.$name.XXXXXX")"
	# -mod=readonly: build exactly what go.mod/go.sum pin, never edit them.
	# CGO_ENABLED=0: static binaries, no C toolchain involved.
	if ! (cd "$HERE/build/$moddir" &&
		CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
			go build -p "$JOBS" -trimpath -ldflags "-s -w $ldflags" -o "$TMP_OUT" "$pkg"); then
		die "building $name ($pkg) failed"
	fi
	chmod 0755 "$TMP_OUT"
	mv -f "$TMP_OUT" "$out"
	TMP_OUT=""
	# The recipe is written last: a run stopped before this line rebuilds.
	rf=$(recipe_file "$out")
	echo "$want" >"$rf.tmp"
	mv -f "$rf.tmp" "$rf"
	echo "built $name ($(basename "$(dirname "$(dirname "$out")")")) in $(($(date +%s) - start)) s"
}

for t in "${TARGETS[@]}"; do
	IFS='|' read -r name moddir pkg out ldflags <<<"$t"
	build "$name" "$moddir" "$pkg" "$out" "$ldflags"
done
