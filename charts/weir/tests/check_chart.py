#!/usr/bin/env python3
"""Offline checks of the weir chart (CTest chart/weir, through check.sh):

  - charts/weir/crds/ holds exactly the files of crds/, byte for byte;
  - `helm lint --strict` passes;
  - `helm template` with the default values renders exactly the expected
    objects: the operator (2 replicas, leader election, probes on /healthz and
    /readyz), its RBAC rule by rule, the webhook (HTTPS probes, its certificate
    and the mesh config mounted), the webhook Service, the four webhooks of
    docs/webhook.md with failurePolicy Fail and a caBundle that verifies the
    serving certificate for the Service's DNS name, and the mesh config, which
    `weirctl inject` (the webhook's own code) accepts;
  - values change what they say: trust domain, failurePolicy, replicas,
    leader election, an existing TLS Secret; a wrong TLS mode fails with a
    message.

usage: check_chart.py HELM WEIRCTL CHART_DIR CRDS_DIR
Prints one line per check; exit 1 on the first failure.
"""
import base64
import os
import subprocess
import sys
import tempfile

import yaml

HELM, WEIRCTL, CHART, CRDS = sys.argv[1:5]
NS = "weir-system"
checks = 0


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    global checks
    checks += 1
    print("ok %d - %s" % (checks, msg))


def expect(got, want, what):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))


def helm(*args, check=True):
    p = subprocess.run([HELM, *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        fail("helm %s: exit %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def render(*sets, crds=False):
    args = ["template", "weir", CHART, "--namespace", NS]
    if crds:
        args.append("--include-crds")
    for s in sets:
        args += ["--set", s]
    docs = [d for d in yaml.safe_load_all(helm(*args).stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def container(objs, name):
    spec = objs[("Deployment", name)]["spec"]["template"]["spec"]
    return spec, spec["containers"][0]


# ---- the CRDs ------------------------------------------------------------------
top = sorted(f for f in os.listdir(CRDS) if f.endswith(".yaml"))
chart = sorted(os.listdir(os.path.join(CHART, "crds")))
expect(chart, top, "files in charts/weir/crds/ (python3 scripts/gen-crds.py writes them)")
for f in top:
    with open(os.path.join(CRDS, f), "rb") as a, open(os.path.join(CHART, "crds", f), "rb") as b:
        if a.read() != b.read():
            fail("charts/weir/crds/%s differs from crds/%s (run python3 scripts/gen-crds.py)" % (f, f))
ok("charts/weir/crds/ is crds/ byte for byte (%d CRDs)" % len(top))

helm("lint", "--strict", CHART)
ok("helm lint --strict")

# ---- default values ------------------------------------------------------------
objs = render()
want = {
    ("ServiceAccount", "weir-operator"), ("ServiceAccount", "weir-webhook"),
    ("ClusterRole", "weir-operator-" + NS), ("ClusterRoleBinding", "weir-operator-" + NS),
    ("Role", "weir-operator"), ("RoleBinding", "weir-operator"),
    ("Deployment", "weir-operator"), ("Deployment", "weir-webhook"),
    ("Service", "weir-operator"), ("Service", "weir-webhook"),
    ("Secret", "weir-webhook-tls"), ("ConfigMap", "weir-mesh-config"),
    ("MutatingWebhookConfiguration", "weir-sidecar-injector"),
    ("ValidatingWebhookConfiguration", "weir-validator"),
}
expect(set(objs), want, "objects rendered")
for (kind, name), o in objs.items():
    if kind not in ("ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration",
                    "ValidatingWebhookConfiguration"):
        expect(o["metadata"].get("namespace"), NS, "%s/%s namespace" % (kind, name))
    expect(o["metadata"]["labels"].get("app.kubernetes.io/part-of"), "weir", "%s/%s label" % (kind, name))
ok("helm template: the %d expected objects, in %s, labelled part-of=weir" % (len(want), NS))
with_crds = render(crds=True)
expect(sorted(n for k, n in with_crds if k == "CustomResourceDefinition"),
       sorted(yaml.safe_load(open(os.path.join(CRDS, f)))["metadata"]["name"] for f in top),
       "CRDs with --include-crds")
ok("--include-crds adds the %d CRDs" % len(top))

# operator
spec, c = container(objs, "weir-operator")
expect(objs[("Deployment", "weir-operator")]["spec"]["replicas"], 2, "operator replicas")
expect(spec["serviceAccountName"], "weir-operator", "operator ServiceAccount")
for a in ("--namespace=" + NS, "--leader-elect=true", "--lease-duration=15s", "--renew-deadline=10s",
          "--retry-period=2s", "--mesh-config-name=weir-mesh-config", "--listen=:15014",
          "--root-namespace=" + NS):
    if a not in c["args"]:
        fail("operator args %r lack %s" % (c["args"], a))
expect(c["ports"], [{"name": "http-monitoring", "containerPort": 15014}], "operator ports")
expect(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "http-monitoring"}, "operator liveness")
expect(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "http-monitoring"}, "operator readiness")
expect(c["image"], "ghcr.io/weir-mesh/weir-operator:0.1.0", "operator image")
expect(c["resources"], {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
       "operator resources")
ok("operator: 2 replicas electing a leader, probes /healthz and /readyz on 15014, image, resources")


# RBAC, rule by rule: (apiGroup, resource, verb[, name])
def rules(role):
    out = set()
    for r in role["rules"]:
        for g in r["apiGroups"]:
            for res in r["resources"]:
                for v in r["verbs"]:
                    for n in r.get("resourceNames", [None]):
                        out.add((g, res, v) + ((n,) if n else ()))
    return out


rw = {("", r, v) for r in ("namespaces", "services", "pods") for v in ("list", "watch")}
rw |= {("", "configmaps", v) for v in ("list", "watch", "create", "patch", "delete")}
rw |= {("discovery.k8s.io", "endpointslices", v) for v in ("list", "watch")}
for g, kinds in (("networking.istio.io", ("virtualservices", "destinationrules", "serviceentries")),
                 ("security.istio.io", ("authorizationpolicies", "peerauthentications",
                                        "requestauthentications")),
                 ("policy.weir.dev", ("ratelimitpolicies",))):
    for k in kinds:
        rw |= {(g, k, "list"), (g, k, "watch"), (g, k + "/status", "patch")}
rw.add(("events.k8s.io", "events", "create"))
expect(rules(objs[("ClusterRole", "weir-operator-" + NS)]), rw, "operator ClusterRole rules")
expect(rules(objs[("Role", "weir-operator")]),
       {("coordination.k8s.io", "leases", "create"), ("coordination.k8s.io", "leases", "get", "weir-operator"),
        ("coordination.k8s.io", "leases", "update", "weir-operator")}, "operator Role rules")
for b in ("ClusterRoleBinding", "RoleBinding"):
    expect(objs[(b, "weir-operator" + ("-" + NS if b[0] == "C" else ""))]["subjects"],
           [{"kind": "ServiceAccount", "name": "weir-operator", "namespace": NS}], b + " subjects")
ok("operator RBAC: exactly %d cluster rules and 3 Lease rules, bound to its ServiceAccount" % len(rw))

# webhook
spec, c = container(objs, "weir-webhook")
expect(spec.get("automountServiceAccountToken"), False, "webhook token automount")
expect(objs[("ServiceAccount", "weir-webhook")].get("automountServiceAccountToken"), False,
       "webhook ServiceAccount automount")
expect(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "https-webhook", "scheme": "HTTPS"},
       "webhook liveness")
expect(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "https-webhook", "scheme": "HTTPS"},
       "webhook readiness")
for a in ("--tls-cert-file=/etc/weir/tls/tls.crt", "--tls-key-file=/etc/weir/tls/tls.key",
          "--mesh-config=/etc/weir/mesh/mesh", "--listen=0.0.0.0:15017"):
    if a not in c["args"]:
        fail("webhook args %r lack %s" % (c["args"], a))
vols = {v["name"]: v for v in spec["volumes"]}
expect(vols["tls"]["secret"]["secretName"], "weir-webhook-tls", "webhook TLS volume")
expect(vols["mesh-config"]["configMap"]["name"], "weir-mesh-config", "webhook mesh config volume")
expect(objs[("Service", "weir-webhook")]["spec"]["ports"],
       [{"name": "https-webhook", "port": 443, "targetPort": "https-webhook"}], "webhook Service ports")
ok("webhook: no API token, HTTPS probes on 15017, certificate and mesh config mounted, Service 443")

secret = objs[("Secret", "weir-webhook-tls")]
expect(secret["type"], "kubernetes.io/tls", "Secret type")
mut = objs[("MutatingWebhookConfiguration", "weir-sidecar-injector")]["webhooks"]
val = objs[("ValidatingWebhookConfiguration", "weir-validator")]["webhooks"]
expect([w["name"] for w in mut], ["inject.weir.dev", "inject.istio-label.weir.dev", "inject.object.weir.dev"],
       "mutating webhooks")
expect([w["name"] for w in val], ["validate.weir.dev"], "validating webhooks")
expect([(r["apiGroups"], r["resources"]) for r in val[0]["rules"]],
       [(["networking.istio.io"], ["virtualservices", "destinationrules", "serviceentries"]),
        (["security.istio.io"], ["authorizationpolicies", "peerauthentications",
                                 "requestauthentications"]),
        (["policy.weir.dev"], ["ratelimitpolicies"])], "validated kinds")
for w in mut + val:
    path = "/validate" if w in val else "/inject"
    expect(w["clientConfig"]["service"], {"name": "weir-webhook", "namespace": NS, "port": 443, "path": path},
           w["name"] + " service")
    expect(w["clientConfig"]["caBundle"], secret["data"]["ca.crt"], w["name"] + " caBundle")
    expect(w["failurePolicy"], "Fail", w["name"] + " failurePolicy")
    expect(w["sideEffects"], "None", w["name"] + " sideEffects")
    excl = [e for e in w["namespaceSelector"]["matchExpressions"] if e["key"] == "kubernetes.io/metadata.name"]
    expect(excl, [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", NS]}],
           w["name"] + " excluded namespaces")
with tempfile.TemporaryDirectory() as tmp:
    for k in ("ca.crt", "tls.crt"):
        with open(os.path.join(tmp, k), "wb") as f:
            f.write(base64.b64decode(secret["data"][k]))
    p = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(tmp, "ca.crt"), "-verify_hostname",
                        "weir-webhook.%s.svc" % NS, os.path.join(tmp, "tls.crt")],
                       capture_output=True, text=True)
    if p.returncode != 0:
        fail("the serving certificate does not verify for weir-webhook.%s.svc: %s" % (NS, p.stdout + p.stderr))
ok("4 webhooks as in docs/webhook.md, failurePolicy Fail; the caBundle verifies the certificate "
   "for weir-webhook.%s.svc" % NS)

# the mesh config, read by the webhook's own code
mesh = yaml.safe_load(objs[("ConfigMap", "weir-mesh-config")]["data"]["mesh"])
expect(mesh["trustDomain"], "cluster.local", "mesh trustDomain")
expect(mesh["caAddress"], "weir-operator.%s.svc:15012" % NS, "mesh caAddress")
with tempfile.TemporaryDirectory() as tmp:
    cm = os.path.join(tmp, "cm.yaml")
    pod = os.path.join(tmp, "pod.yaml")
    with open(cm, "w") as f:
        yaml.safe_dump(objs[("ConfigMap", "weir-mesh-config")], f)
    with open(pod, "w") as f:
        f.write("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\n"
                "spec: {containers: [{name: app, image: app:1}]}\n")
    p = subprocess.run([WEIRCTL, "inject", "--mesh-config", cm, "-f", pod, "--format", "json"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        fail("weirctl inject refuses the chart's mesh config: %s" % p.stderr)
    import json
    injected = json.loads(p.stdout)
    images = sorted(x["image"] for x in injected["spec"].get("initContainers", []) + injected["spec"]["containers"])
    expect(images, ["app:1", "ghcr.io/weir-mesh/weir-init:0.1.0", "ghcr.io/weir-mesh/weir-proxy:0.1.0"],
           "images of the injected pod")
ok("mesh config: trust domain, CA address; weirctl inject accepts it and injects the values' images")

# ---- values --------------------------------------------------------------------
objs = render("trustDomain=example.org", "webhook.failurePolicy=Ignore", "operator.replicas=3",
              "operator.leaderElection.enabled=false", "webhook.excludedNamespaces={ops}")
expect(yaml.safe_load(objs[("ConfigMap", "weir-mesh-config")]["data"]["mesh"])["trustDomain"], "example.org",
       "trustDomain value")
for w in objs[("MutatingWebhookConfiguration", "weir-sidecar-injector")]["webhooks"] + \
        objs[("ValidatingWebhookConfiguration", "weir-validator")]["webhooks"]:
    expect(w["failurePolicy"], "Ignore", w["name"] + " failurePolicy value")
    excl = [e for e in w["namespaceSelector"]["matchExpressions"] if e["key"] == "kubernetes.io/metadata.name"]
    expect(excl[0]["values"], ["kube-system", NS, "ops"], w["name"] + " excludedNamespaces value")
expect(objs[("Deployment", "weir-operator")]["spec"]["replicas"], 3, "operator.replicas value")
if "--leader-elect=false" not in container(objs, "weir-operator")[1]["args"]:
    fail("operator.leaderElection.enabled=false is not passed on")
ok("values: trustDomain, webhook.failurePolicy, operator.replicas, leader election, excluded namespaces")

objs = render("webhook.tls.mode=secret", "webhook.tls.existingSecret=my-tls", "webhook.tls.caBundle=Q0E=")
expect(("Secret", "weir-webhook-tls") in objs, False, "Secret rendered with mode=secret")
expect(container(objs, "weir-webhook")[0]["volumes"][0]["secret"]["secretName"], "my-tls", "existingSecret")
expect(objs[("ValidatingWebhookConfiguration", "weir-validator")]["webhooks"][0]["clientConfig"]["caBundle"],
       "Q0E=", "caBundle value")
p = helm("template", "weir", CHART, "--set", "webhook.tls.mode=bogus", check=False)
if p.returncode == 0 or 'webhook.tls.mode must be auto or secret, got "bogus"' not in p.stderr:
    fail("webhook.tls.mode=bogus: exit %d, %s" % (p.returncode, p.stderr.strip()))
p = helm("template", "weir", CHART, "--set", "webhook.tls.mode=secret", check=False)
if p.returncode == 0 or "webhook.tls.existingSecret is required" not in p.stderr:
    fail("webhook.tls.mode=secret without a Secret: exit %d, %s" % (p.returncode, p.stderr.strip()))
ok("webhook.tls.mode=secret uses the given Secret and caBundle; a wrong mode or a missing Secret fails")
print("%d checks passed" % checks)
