#!/usr/bin/env bash
# CTest chart/weir: offline checks of the chart (check_chart.py) with the helm
# that e2e/cluster builds. Exit 77 (reported by CTest as skipped, never as
# passed) when that helm is not built on this machine.
#
#   check.sh WEIRCTL
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
# shellcheck source-path=SCRIPTDIR/../../.. source=e2e/cluster/env.sh
. "$root/e2e/cluster/env.sh"
if [[ ! -x $HELM ]]; then
	echo "SKIP: $HELM is not built (e2e/cluster/build.sh builds it)"
	exit 77
fi
exec python3 "$here/check_chart.py" "$HELM" "$1" "$root/charts/weir" "$root/crds"
