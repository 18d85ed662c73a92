# shellcheck shell=bash
# Functions shared by up, down and smoke-test. Sourced after env.sh.

# Layout of $WEIR_CLUSTER_DIR (used by the scripts that source this file).
# shellcheck disable=SC2034
WEIR_PKI="$WEIR_CLUSTER_DIR/pki"
WEIR_PIDS="$WEIR_CLUSTER_DIR/pids"
WEIR_LOGS="$WEIR_CLUSTER_DIR/logs"
# Marker that says "this directory was made by up": down only deletes a
# directory that has it, so a mistyped WEIR_CLUSTER_DIR cannot wipe anything else.
WEIR_MARKER="$WEIR_CLUSTER_DIR/.weir-cluster"
# Components in start order; down stops them in reverse.
WEIR_COMPONENTS=(etcd kube-apiserver kube-controller-manager)

die() {
	echo "${0##*/}: error: $*" >&2
	exit 1
}

# binary_of COMPONENT: the cached binary that component runs.
binary_of() {
	case $1 in
	etcd) echo "$ETCD" ;;
	kube-apiserver) echo "$KUBE_APISERVER" ;;
	kube-controller-manager) echo "$KUBE_CONTROLLER_MANAGER" ;;
	*) return 1 ;;
	esac
}

# pid_of COMPONENT: print the PID recorded for it if that PID is alive and
# still runs the component's binary. A PID file left by a crashed run can name
# a PID that the kernel has since given to an unrelated process; checking
# /proc/PID/exe keeps us from ever signalling that process.
pid_of() {
	local comp=$1 file="$WEIR_PIDS/$1.pid" pid exe want
	[[ -r $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	want=$(readlink -f "$(binary_of "$comp")")
	# A binary replaced on disk while running shows as "PATH (deleted)".
	[[ $exe == "$want" || $exe == "$want (deleted)" ]] || return 1
	echo "$pid"
}

# log_tail COMPONENT [LINES]: last lines of a component's log, for errors.
log_tail() {
	local log="$WEIR_LOGS/$1.log"
	if [[ -s $log ]]; then
		echo "---- last ${2:-40} lines of $log ----" >&2
		tail -n "${2:-40}" "$log" >&2
		echo "----" >&2
	else
		echo "($log is empty or missing)" >&2
	fi
}

# alive PID: the process exists and is not a zombie (a zombie has no exe link;
# kill -0 would still succeed on it).
alive() {
	readlink "/proc/$1/exe" >/dev/null 2>&1
}

# stop_component COMPONENT GRACE_SECONDS: TERM, wait, then KILL.
stop_component() {
	local comp=$1 grace=$2 pid i
	pid=$(pid_of "$comp") || { rm -f "$WEIR_PIDS/$comp.pid"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		echo "$comp (pid $pid) did not exit within ${grace}s of SIGTERM; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
	fi
	rm -f "$WEIR_PIDS/$comp.pid"
}

# start_component COMPONENT: start it detached (setsid) with the arguments
# recorded in pids/COMPONENT.args (NUL-separated, written by up), appending to
# its log, and record its PID. Used by up, and by tests that stop a component
# and start it again with the very same flags.
start_component() {
	local comp=$1 bin args=()
	bin=$(binary_of "$comp") || return 1
	[[ -r $WEIR_PIDS/$comp.args ]] || {
		echo "start_component: no $WEIR_PIDS/$comp.args (was the cluster started by up?)" >&2
		return 1
	}
	mapfile -d '' -t args <"$WEIR_PIDS/$comp.args"
	setsid "$bin" "${args[@]}" </dev/null >>"$WEIR_LOGS/$comp.log" 2>&1 &
	echo $! >"$WEIR_PIDS/$comp.pid"
}
