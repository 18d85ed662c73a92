#!/usr/bin/env bash
# The CRDs in crds/ against a real kube-apiserver: they install and become
# Established with structural schemas, `kubectl explain` prints their field
# descriptions, real Istio sample manifests are stored with no field pruned,
# every served version reads back as the storage version, printer columns
# and short names work, and status is written only through the status
# subresource. Run against a cluster that is already up:
#
#   e2e/cluster/up && e2e/tests/crds.sh
#
# Output is TAP-like, one "ok N - ..." or "not ok N - ..." per check, then
# "N passed, M failed"; the exit status is non-zero if a check failed. A
# failed check does not stop the later ones unless they depend on it.
#
# It works in a namespace of its own and deletes it on exit, with every CRD it
# created (a CRD that was already installed is updated, not deleted, so a
# shared cluster keeps what it had).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source-path=SCRIPTDIR/../.. source=e2e/cluster/env.sh
. "$ROOT/e2e/cluster/env.sh"

die() {
	echo "${0##*/}: error: $*" >&2
	exit 1
}
for tool in jq python3; do
	command -v "$tool" >/dev/null || die "$tool not found (see scripts/install-deps.sh)"
done
[[ -x $KUBECTL ]] || die "$KUBECTL missing; run e2e/cluster/up first"
[[ -s $KUBECONFIG ]] || die "$KUBECONFIG missing: no cluster is up; run e2e/cluster/up first"

TIMEOUT="${WEIR_CRDS_TIMEOUT:-60}"
CRD_DIR="$ROOT/crds"
DATA="$HERE/testdata/crds"
NS="weir-crds-$(date +%s)-$$"
MANAGER=weir-e2e-crds
WORK=$(mktemp -d)

PASSED=0
FAILED=0
N=0
CREATED_NS=0
CREATED_CRDS=()

k() { "$KUBECTL" --request-timeout=30s "$@"; }

ok() {
	N=$((N + 1)) PASSED=$((PASSED + 1))
	echo "ok $N - $1"
}
# not_ok DESCRIPTION DETAIL...: report the check as failed and go on.
not_ok() {
	N=$((N + 1)) FAILED=$((FAILED + 1))
	echo "not ok $N - $1"
	shift
	local line
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/#   /'
	done
}
# fatal DESCRIPTION DETAIL...: report the check as failed and stop; the rest
# depends on it.
fatal() {
	not_ok "$@"
	exit 1
}

# retry SECONDS CMD...: run CMD until it succeeds or SECONDS pass; its last
# output is in $WORK/last.out.
retry() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@" >"$WORK/last.out" 2>&1; do
		(($(date +%s) < deadline)) || return 1
		sleep 0.5
	done
}

cleanup() {
	local rc=$?
	set +e
	{
		((CREATED_NS)) && k delete namespace "$NS" --wait=false
		((${#CREATED_CRDS[@]})) && k delete crd "${CREATED_CRDS[@]}" --wait=false
	} >"$WORK/cleanup.log" 2>&1
	rm -rf "$WORK"
	if ((rc != 0 && FAILED == 0)); then
		FAILED=$((FAILED + 1))
		echo "not ok $((N + 1)) - crds.sh stopped on an unexpected error (exit $rc, see above)"
	fi
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0)) || exit 1
	exit "$rc"
}
trap cleanup EXIT

# to_json FILE: the objects of a YAML manifest as a JSON stream, converted by
# kubectl itself (exactly what `kubectl apply -f FILE` would send), moved into
# the test namespace. Nothing else is changed.
to_json() {
	k create --dry-run=client -o json -f "$1" | jq -c --arg ns "$NS" '.metadata.namespace = $ns'
}

# spec_diff WANT_JSON GOT_JSON: print every difference between two specs as
# "path: want ... got ...", or nothing if they are equal. A field present in
# WANT but missing in GOT was pruned by the schema.
spec_diff() {
	python3 - "$1" "$2" <<'PY'
import json, sys

want = json.load(open(sys.argv[1]))
got = json.load(open(sys.argv[2]))

def walk(w, g, path):
    if isinstance(w, dict) and isinstance(g, dict):
        for key in sorted(set(w) | set(g)):
            sub = path + "." + key
            if key not in g:
                print(sub + ": pruned (sent " + json.dumps(w[key]) + ")")
            elif key not in w:
                print(sub + ": added by the server (" + json.dumps(g[key]) + ")")
            else:
                walk(w[key], g[key], sub)
    elif isinstance(w, list) and isinstance(g, list):
        if len(w) != len(g):
            print(path + ": sent %d items, stored %d" % (len(w), len(g)))
        for i, (a, b) in enumerate(zip(w, g)):
            walk(a, b, "%s[%d]" % (path, i))
    elif w != g or isinstance(w, bool) != isinstance(g, bool):
        print(path + ": sent " + json.dumps(w) + ", stored " + json.dumps(g))

walk(want, got, "spec")
PY
}

# ---- the CRDs -----------------------------------------------------------------
desc="crds/ is up to date with scripts/gen-crds.py"
if out=$(python3 "$ROOT/scripts/gen-crds.py" --check 2>&1); then
	ok "$desc"
else
	not_ok "$desc" "$out"
fi

mapfile -t CRD_FILES < <(find "$CRD_DIR" -maxdepth 1 -name '*.yaml' | sort)
((${#CRD_FILES[@]} == 7)) || fatal "crds/ has the 7 CRD files" "found ${#CRD_FILES[@]}: ${CRD_FILES[*]}"
CRD_NAMES=()
for f in "${CRD_FILES[@]}"; do
	b=${f##*/}
	b=${b%.yaml}
	CRD_NAMES+=("${b#*_}.${b%%_*}")
done

desc="${#CRD_NAMES[@]} CRDs applied server-side, Established, schemas structural"
for crd in "${CRD_NAMES[@]}"; do
	k get crd "$crd" >/dev/null 2>&1 || CREATED_CRDS+=("$crd")
done
k apply --server-side --force-conflicts --field-manager="$MANAGER" -f "$CRD_DIR" >"$WORK/apply.out" 2>&1 ||
	fatal "$desc" "kubectl apply --server-side -f crds/ failed:" "$(cat "$WORK/apply.out")"
k wait --for=condition=Established --timeout="${TIMEOUT}s" "${CRD_NAMES[@]/#/crd/}" >/dev/null 2>"$WORK/wait.err" ||
	fatal "$desc" "not Established within ${TIMEOUT}s:" "$(cat "$WORK/wait.err")"
bad=$(k get crd "${CRD_NAMES[@]}" -o json | jq -r '
	(if .kind == "List" then .items[] else . end)
	| .metadata.name as $n
	| .status.conditions[]
	| select((.type == "NonStructuralSchema" and .status == "True") or (.type == "Established" and .status != "True"))
	| "\($n): \(.type): \(.message)"')
[[ -z $bad ]] || fatal "$desc" "$bad"
ok "$desc"

k create namespace "$NS" >/dev/null || fatal "create namespace $NS" "cannot create namespace $NS"
CREATED_NS=1

# ---- discovery: versions, short names, categories ------------------------------
desc="discovery: served versions, short names and categories as Istio's"
# group/version kind shortnames categories
expect=(
	"networking.istio.io/v1 VirtualService vs istio-io,networking-istio-io"
	"networking.istio.io/v1beta1 VirtualService vs istio-io,networking-istio-io"
	"networking.istio.io/v1alpha3 VirtualService vs istio-io,networking-istio-io"
	"networking.istio.io/v1 DestinationRule dr istio-io,networking-istio-io"
	"networking.istio.io/v1beta1 DestinationRule dr istio-io,networking-istio-io"
	"networking.istio.io/v1alpha3 DestinationRule dr istio-io,networking-istio-io"
	"networking.istio.io/v1 ServiceEntry se istio-io,networking-istio-io"
	"networking.istio.io/v1beta1 ServiceEntry se istio-io,networking-istio-io"
	"networking.istio.io/v1alpha3 ServiceEntry se istio-io,networking-istio-io"
	"security.istio.io/v1 AuthorizationPolicy ap istio-io,security-istio-io"
	"security.istio.io/v1beta1 AuthorizationPolicy ap istio-io,security-istio-io"
	"security.istio.io/v1 PeerAuthentication pa istio-io,security-istio-io"
	"security.istio.io/v1beta1 PeerAuthentication pa istio-io,security-istio-io"
	"security.istio.io/v1 RequestAuthentication ra istio-io,security-istio-io"
	"security.istio.io/v1beta1 RequestAuthentication ra istio-io,security-istio-io"
	"policy.weir.dev/v1alpha1 RateLimitPolicy - weir,policy-weir-dev"
)
errs=()
for line in "${expect[@]}"; do
	read -r gv kind short cats <<<"$line"
	if ! retry "$TIMEOUT" k get --raw "/apis/$gv"; then
		errs+=("/apis/$gv not served: $(tail -n 2 "$WORK/last.out")")
		continue
	fi
	got=$(jq -r --arg k "$kind" '.resources[] | select(.kind == $k and (.name | contains("/") | not))
		| "\((.shortNames // ["-"]) | join(",")) \((.categories // []) | join(","))"' "$WORK/last.out")
	[[ $got == "$short $cats" ]] || errs+=("$gv $kind: short names and categories are '$got', want '$short $cats'")
done
if ((${#errs[@]})); then not_ok "$desc" "${errs[@]}"; else ok "$desc"; fi

# Storage versions: v1 for the Istio kinds, as the project's design says.
desc="storage version is v1 (Istio kinds) / v1alpha1 (RateLimitPolicy)"
got=$(k get crd "${CRD_NAMES[@]}" -o json | jq -r '(if .kind == "List" then .items[] else . end)
	| "\(.metadata.name)=\([.spec.versions[] | select(.storage) | .name] | join(","))"' | sort | tr '\n' ' ')
want="authorizationpolicies.security.istio.io=v1 destinationrules.networking.istio.io=v1 peerauthentications.security.istio.io=v1 ratelimitpolicies.policy.weir.dev=v1alpha1 requestauthentications.security.istio.io=v1 serviceentries.networking.istio.io=v1 virtualservices.networking.istio.io=v1 "
if [[ $got == "$want" ]]; then ok "$desc"; else not_ok "$desc" "got:  $got" "want: $want"; fi

# ---- kubectl explain --------------------------------------------------------------
# FIELD PATH, then a phrase its description must contain.
explain_checks=(
	"virtualservice.spec.http.retries|Retry policy for HTTP requests."
	"virtualservice.spec.http.retries.perTryTimeout|Timeout per attempt for a given request"
	"virtualservice.spec.http.match.headers|Request headers to match"
	"destinationrule.spec.trafficPolicy.outlierDetection.consecutive5xxErrors|Number of 5xx errors before a host is ejected"
	"destinationrule.spec.subsets.trafficPolicy.connectionPool.http.http1MaxPendingRequests|Maximum number of requests that will be queued"
	"serviceentry.spec.resolution|Service discovery mode for the hosts"
	"authorizationpolicy.spec.rules.from.source.principals|Peer identities"
	"peerauthentication.spec.mtls.mode|The mutual TLS mode"
	"requestauthentication.spec.jwtRules.jwksUri|public key set (JWKS)"
	"ratelimitpolicy.spec.limits.tokenBucket|Token bucket"
)
desc="kubectl explain prints the schema's descriptions (virtualservice.spec.http.retries and 9 more)"
errs=()
for c in "${explain_checks[@]}"; do
	path=${c%%|*} phrase=${c#*|}
	if ! retry "$TIMEOUT" k explain "$path"; then
		errs+=("kubectl explain $path failed: $(tail -n 3 "$WORK/last.out")")
		continue
	fi
	# explain wraps lines; join them before looking for the phrase.
	tr -s ' \n' '  ' <"$WORK/last.out" | grep -qF "$phrase" ||
		errs+=("kubectl explain $path does not say '$phrase'; it printed:" "$(cat "$WORK/last.out")")
done
if ((${#errs[@]})); then
	not_ok "$desc" "${errs[@]}"
else
	ok "$desc"
	k explain virtualservice.spec.http.retries | sed -n '/^DESCRIPTION/,/^$/p' | sed 's/^/# /' | head -n 4
fi

# ---- real manifests are stored with no field pruned -------------------------------
# For each file: apply its objects (server-side, strict field validation), read
# each back, compare .spec with what was sent, then delete them so the next
# file may reuse the names.
mapfile -t SAMPLES < <(find "$DATA" -maxdepth 1 -name '*.yaml' | sort)
((${#SAMPLES[@]} > 0)) || fatal "samples found in $DATA" "none"
total_objects=0
for f in "${SAMPLES[@]}"; do
	name=${f##*/}
	json="$WORK/${name%.yaml}.jsonl"
	if ! retry "$TIMEOUT" to_json "$f"; then
		not_ok "$name: converted by kubectl" "$(tail -n 5 "$WORK/last.out")"
		continue
	fi
	cp "$WORK/last.out" "$json"
	kinds=$(jq -r .kind "$json" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')
	desc="$name: $kinds stored with no field pruned"
	if ! k apply --server-side --field-manager="$MANAGER" --validate=strict -f "$json" >"$WORK/apply.out" 2>&1; then
		not_ok "$desc" "kubectl apply failed:" "$(cat "$WORK/apply.out")"
		continue
	fi
	errs=()
	i=0
	while IFS= read -r obj; do
		i=$((i + 1))
		printf '%s' "$obj" | jq '.spec // {}' >"$WORK/want.json"
		kind=$(jq -r .kind <<<"$obj") oname=$(jq -r .metadata.name <<<"$obj")
		api=$(jq -r .apiVersion <<<"$obj")
		group=${api%/*} version=${api#*/}
		if ! k get "${kind,,}.$version.$group" "$oname" -n "$NS" -o json >"$WORK/got-full.json" 2>"$WORK/get.err"; then
			errs+=("$kind/$oname: cannot read it back: $(cat "$WORK/get.err")")
			continue
		fi
		jq '.spec // {}' "$WORK/got-full.json" >"$WORK/got.json"
		d=$(spec_diff "$WORK/want.json" "$WORK/got.json")
		[[ -z $d ]] || errs+=("$kind/$oname:" "$d")
	done <"$json"
	total_objects=$((total_objects + i))
	if ((${#errs[@]})); then not_ok "$desc" "${errs[@]}"; else ok "$desc"; fi
	k delete -f "$json" --wait=true >/dev/null 2>&1 || true
done

# ---- every served version reads back as v1 ------------------------------------------
desc="the same VirtualService applied as v1beta1 and v1alpha3 reads back as v1, spec intact"
base="$WORK/virtual-service-reviews-90-10.jsonl"
errs=()
if [[ ! -s $base ]]; then
	errs+=("no converted virtual-service-reviews-90-10.yaml to work from")
else
	for v in v1beta1 v1alpha3; do
		jq -c --arg v "networking.istio.io/$v" --arg n "reviews-$v" '.apiVersion = $v | .metadata.name = $n' "$base" >"$WORK/vs-$v.json"
		if ! k apply --server-side --field-manager="$MANAGER" -f "$WORK/vs-$v.json" >"$WORK/apply.out" 2>&1; then
			errs+=("apply as $v failed: $(cat "$WORK/apply.out")")
			continue
		fi
		k get virtualservices.v1.networking.istio.io "reviews-$v" -n "$NS" -o json >"$WORK/vs-$v-v1.json" 2>"$WORK/get.err" ||
			{ errs+=("read of reviews-$v as v1 failed: $(cat "$WORK/get.err")"); continue; }
		got_api=$(jq -r .apiVersion "$WORK/vs-$v-v1.json")
		[[ $got_api == networking.istio.io/v1 ]] || errs+=("reviews-$v read as v1 says apiVersion $got_api")
		jq '.spec' "$WORK/vs-$v.json" >"$WORK/want.json"
		jq '.spec' "$WORK/vs-$v-v1.json" >"$WORK/got.json"
		d=$(spec_diff "$WORK/want.json" "$WORK/got.json")
		[[ -z $d ]] || errs+=("reviews-$v as v1:" "$d")
		# And the other way: a v1 object is served as the older version too.
		other=$(k get "virtualservices.$v.networking.istio.io" "reviews-$v" -n "$NS" -o jsonpath='{.apiVersion}' 2>&1)
		[[ $other == "networking.istio.io/$v" ]] || errs+=("reviews-$v read as $v says '$other'")
	done
fi
if ((${#errs[@]})); then not_ok "$desc" "${errs[@]}"; else ok "$desc"; fi

# ---- printer columns -----------------------------------------------------------------
desc="kubectl get shows the printer columns of every kind"
errs=()
for f in virtual-service-reference.yaml destination-rule-circuit-breaking.yaml service-entry-egress-httpbin.yaml \
	authorization-policy-jwt.yaml peer-authentication.yaml request-authentication.yaml rate-limit-policy.yaml; do
	k apply --server-side --field-manager="$MANAGER" -f "$WORK/${f%.yaml}.jsonl" >"$WORK/apply.out" 2>&1 ||
		errs+=("apply $f failed: $(cat "$WORK/apply.out")")
done
# RESOURCE | header | a row that must be there (columns joined by one space)
column_checks=(
	'vs|NAME GATEWAYS HOSTS AGE|bookinfo-sni ["mygateway"] ["*.bookinfo.com"]'
	'dr|NAME HOST AGE|httpbin httpbin'
	'se|NAME HOSTS LOCATION RESOLUTION AGE|httpbin-ext ["httpbin.org"] MESH_EXTERNAL DNS'
	'ap|NAME ACTION AGE|frontend-ingress DENY'
	'pa|NAME MODE AGE|default STRICT'
	'ra|NAME AGE|jwt-example'
	'ratelimitpolicies|NAME AGE|productpage'
)
for c in "${column_checks[@]}"; do
	IFS='|' read -r res header row <<<"$c"
	if ! k get "$res" -n "$NS" >"$WORK/get.out" 2>&1; then
		errs+=("kubectl get $res failed: $(cat "$WORK/get.out")")
		continue
	fi
	got_header=$(head -n 1 "$WORK/get.out" | tr -s ' ')
	[[ $got_header == "$header" ]] || errs+=("kubectl get $res: header is '$got_header', want '$header'")
	# Drop the AGE column (last) before comparing rows.
	tail -n +2 "$WORK/get.out" | tr -s ' ' | sed 's/ [^ ]*$//' | grep -qxF "$row" ||
		errs+=("kubectl get $res: no row '$row' in:" "$(cat "$WORK/get.out")")
done
# The categories reach every Istio kind at once.
if k get istio-io -n "$NS" -o name >"$WORK/cat.out" 2>&1; then
	for want in virtualservice.networking.istio.io/bookinfo-sni destinationrule.networking.istio.io/httpbin \
		serviceentry.networking.istio.io/httpbin-ext authorizationpolicy.security.istio.io/frontend-ingress \
		peerauthentication.security.istio.io/default requestauthentication.security.istio.io/jwt-example; do
		grep -qxF "$want" "$WORK/cat.out" || errs+=("kubectl get istio-io does not list $want")
	done
else
	errs+=("kubectl get istio-io failed: $(cat "$WORK/cat.out")")
fi
if ((${#errs[@]})); then not_ok "$desc" "${errs[@]}"; else ok "$desc"; fi

# ---- status subresource ----------------------------------------------------------------
desc="status is written through the status subresource only, on every kind"
errs=()
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for obj in virtualservice/bookinfo-sni destinationrule/httpbin serviceentry/httpbin-ext \
	authorizationpolicy/frontend-ingress peerauthentication/default requestauthentication/jwt-example \
	ratelimitpolicy/productpage; do
	gen=$(k get "$obj" -n "$NS" -o jsonpath='{.metadata.generation}' 2>&1)
	status=$(jq -nc --arg now "$now" --argjson gen "${gen:-0}" '{status: {observedGeneration: $gen,
		conditions: [{type: "Accepted", status: "False", reason: "UnsupportedField",
			message: "spec.http[0].mirror is not supported yet", lastTransitionTime: $now,
			observedGeneration: $gen}],
		validationMessages: [{level: "WARNING", type: {code: "WEIR0001", name: "Unsupported"}}]}}')
	if ! k patch "$obj" -n "$NS" --subresource=status --type=merge -p "$status" >"$WORK/patch.out" 2>&1; then
		errs+=("$obj: patch --subresource=status failed: $(cat "$WORK/patch.out")")
		continue
	fi
	# A write of status through the main resource must be ignored.
	k patch "$obj" -n "$NS" --type=merge -p '{"status":{"conditions":[{"type":"Bogus","status":"True"}]}}' >/dev/null 2>&1 || true
	got=$(k get "$obj" -n "$NS" -o json 2>&1)
	want_status=$(jq -S .status <<<"$status")
	got_status=$(jq -S .status <<<"$got" 2>/dev/null)
	[[ $got_status == "$want_status" ]] || errs+=("$obj: status is" "$got_status" "want" "$want_status")
	got_gen=$(jq -r .metadata.generation <<<"$got" 2>/dev/null)
	[[ $got_gen == "$gen" ]] || errs+=("$obj: metadata.generation went from $gen to $got_gen on a status write")
done
if ((${#errs[@]})); then not_ok "$desc" "${errs[@]}"; else ok "$desc"; fi

# ---- the schema is enforced -----------------------------------------------------------------
# bad_object DESCRIPTION JSON_PATCH WANT_IN_ERROR: the reviews VirtualService with
# a jq edit applied must be rejected with an error that names the field.
desc="the schema rejects wrong types, unknown enum values, unknown fields and missing required fields"
errs=()
reject() { # FILE-STEM JQ-EDIT ERROR-PHRASE
	local src="$WORK/$1.jsonl" out
	[[ -s $src ]] || { errs+=("no converted $1.yaml to work from"); return; }
	jq -c "$2 | .metadata.name = \"bad-\" + .metadata.name" "$src" | head -n 1 >"$WORK/bad.json"
	if out=$(k apply --server-side --field-manager="$MANAGER" --validate=strict -f "$WORK/bad.json" 2>&1); then
		errs+=("$1 with '$2' was accepted")
		k delete -f "$WORK/bad.json" >/dev/null 2>&1 || true
	elif ! grep -qF "$3" <<<"$out"; then
		errs+=("$1 with '$2' was rejected, but the error does not name '$3':" "$out")
	fi
}
reject virtual-service-reviews-90-10 '.spec.http[0].retries = {attempts: "three"}' 'spec.http[0].retries.attempts'
reject virtual-service-reviews-90-10 '.spec.http[0].retry = {attempts: 3}' 'spec.http[0].retry'
reject virtual-service-reviews-90-10 '.spec.http[0].route[0] |= del(.destination)' 'spec.http[0].route[0].destination'
reject destination-rule-circuit-breaking '.spec.trafficPolicy.loadBalancer = {simple: "FASTEST"}' 'spec.trafficPolicy.loadBalancer.simple'
reject destination-rule-circuit-breaking 'del(.spec.host)' 'spec.host'
reject peer-authentication '.spec.mtls.mode = "STRIKT"' 'spec.mtls.mode'
reject service-entry-egress-httpbin '.spec.hosts = []' 'spec.hosts'
reject authorization-policy-jwt '.spec.action = "MAYBE"' 'spec.action'
reject rate-limit-policy '.spec.limits[0].tokenBucket.maxTokens = 0' 'spec.limits[0].tokenBucket.maxTokens'
reject rate-limit-policy '.spec.limits[0] |= del(.tokenBucket)' 'spec.limits[0].tokenBucket'
if ((${#errs[@]})); then not_ok "$desc" "${errs[@]}"; else ok "$desc"; fi

desc="an unknown field sent without strict validation is pruned, not stored"
errs=()
src="$WORK/virtual-service-reviews-90-10.jsonl"
jq -c '.metadata.name = "pruned" | .spec.http[0].retry = {attempts: 3} | .spec.bogus = true' "$src" >"$WORK/prune.json"
# (Server-side apply refuses undeclared fields whatever the validation level,
# so this uses a plain create.)
if ! k create --validate=false -f "$WORK/prune.json" >"$WORK/apply.out" 2>&1; then
	errs+=("create with --validate=false failed: $(cat "$WORK/apply.out")")
else
	got=$(k get vs pruned -n "$NS" -o json | jq -c '[.spec.bogus, .spec.http[0].retry]')
	[[ $got == '[null,null]' ]] || errs+=("unknown fields were stored: $got")
fi
if ((${#errs[@]})); then not_ok "$desc" "${errs[@]}"; else ok "$desc"; fi

echo "# $total_objects objects from ${#SAMPLES[@]} manifests checked in namespace $NS"
