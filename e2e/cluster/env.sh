# shellcheck shell=bash
# Paths and versions of the local Kubernetes control plane used by the e2e
# tests. Source it; it only sets variables, so it is cheap and side-effect free:
#
#   . e2e/cluster/env.sh
#
# The versions here must match the pins in build/*/go.mod (build.sh checks).

WEIR_K8S_VERSION=v1.34.4
WEIR_ETCD_VERSION=v3.6.16
WEIR_HELM_VERSION=v3.19.5

# Binaries are built once and kept outside the repository, keyed by version, so
# a new checkout or a `git clean` never triggers a rebuild.
if [ -z "${WEIR_CACHE_DIR:-}" ]; then
    # /var/cache when it is writable (root, CI); the user's cache otherwise.
    if [ -w /var/cache ] || [ -w /var/cache/weir ]; then
        WEIR_CACHE_DIR=/var/cache/weir
    else
        WEIR_CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/weir"
    fi
fi
export WEIR_CACHE_DIR
WEIR_K8S_BIN="$WEIR_CACHE_DIR/k8s-$WEIR_K8S_VERSION/bin"
WEIR_ETCD_BIN="$WEIR_CACHE_DIR/etcd-$WEIR_ETCD_VERSION/bin"
WEIR_HELM_BIN="$WEIR_CACHE_DIR/helm-$WEIR_HELM_VERSION/bin"
export WEIR_K8S_VERSION WEIR_ETCD_VERSION WEIR_HELM_VERSION
export WEIR_K8S_BIN WEIR_ETCD_BIN WEIR_HELM_BIN

export KUBECTL="$WEIR_K8S_BIN/kubectl"
export KUBE_APISERVER="$WEIR_K8S_BIN/kube-apiserver"
export KUBE_CONTROLLER_MANAGER="$WEIR_K8S_BIN/kube-controller-manager"
export ETCD="$WEIR_ETCD_BIN/etcd"
export HELM="$WEIR_HELM_BIN/helm"

# Runtime state of a running cluster: certificates, etcd data, logs, pid files.
export WEIR_CLUSTER_DIR="${WEIR_CLUSTER_DIR:-/tmp/weir-cluster}"
export KUBECONFIG="$WEIR_CLUSTER_DIR/admin.kubeconfig"
# kubectl's discovery cache goes with the cluster, not into ~/.kube, so a new
# cluster never sees a stale cache and `down` removes it.
export KUBECACHEDIR="$WEIR_CLUSTER_DIR/kube-cache"

# Put the cached binaries first on PATH (once, even if sourced repeatedly).
for _weir_d in "$WEIR_HELM_BIN" "$WEIR_ETCD_BIN" "$WEIR_K8S_BIN"; do
	case ":$PATH:" in
	*":$_weir_d:"*) ;;
	*) PATH="$_weir_d:$PATH" ;;
	esac
done
unset _weir_d
export PATH
