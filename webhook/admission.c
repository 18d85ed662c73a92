#include "admission.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "inject/inject.h"
#include "model/mesh.h"

/* A denial message past this is cut with a count of what was left out: the
 * API server and kubectl pass it on whole, and a user needs the first errors. */
#define MESSAGE_MAX 16384
/* The API server keeps at most 4 KiB of warnings per request anyway. */
#define WARNINGS_MAX 32

static void set_err(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

void weir_admission_review_free(struct weir_admission_review *rv)
{
    json_decref(rv->root);
    memset(rv, 0, sizeof(*rv));
}

int weir_admission_decode(const char *body, size_t len, struct weir_admission_review *out,
                          char *err, size_t errlen)
{
    json_error_t je;
    memset(out, 0, sizeof(*out));
    if (len == 0) {
        set_err(err, errlen, "request body is empty; expected an AdmissionReview");
        return -1;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        set_err(err, errlen, "request body is not JSON: %s (line %d, column %d)", je.text, je.line,
                je.column);
        return -1;
    }
    const char *api = json_string_value(json_object_get(root, "apiVersion"));
    const char *kind = json_string_value(json_object_get(root, "kind"));
    const json_t *req = json_object_get(root, "request");
    const char *what = NULL;
    if (!json_is_object(root))
        what = "the body is not a JSON object";
    else if (!kind || strcmp(kind, "AdmissionReview") != 0)
        what = "kind is not AdmissionReview";
    else if (!api || strcmp(api, "admission.k8s.io/v1") != 0)
        what = "apiVersion is not admission.k8s.io/v1 (register the webhook with "
               "admissionReviewVersions: [v1])";
    else if (!json_is_object(req))
        what = "request is missing";
    else if (!json_string_value(json_object_get(req, "uid")) ||
             !*json_string_value(json_object_get(req, "uid")))
        what = "request.uid is missing";
    if (what) {
        set_err(err, errlen, "request body is not an admission.k8s.io/v1 AdmissionReview: %s",
                what);
        json_decref(root);
        return -1;
    }
    const json_t *k = json_object_get(req, "kind");
    const json_t *obj = json_object_get(req, "object");
    out->root = root;
    out->uid = json_string_value(json_object_get(req, "uid"));
    out->operation = json_string_value(json_object_get(req, "operation"));
    out->namespace_ = json_string_value(json_object_get(req, "namespace"));
    out->name = json_string_value(json_object_get(req, "name"));
    out->group = json_string_value(json_object_get(k, "group"));
    out->version = json_string_value(json_object_get(k, "version"));
    out->kind = json_string_value(json_object_get(k, "kind"));
    out->object = json_is_object(obj) ? obj : NULL;
    out->dry_run = json_is_true(json_object_get(req, "dryRun"));
    if (!out->operation)
        out->operation = "";
    if (!out->group)
        out->group = "";
    if (!out->kind)
        out->kind = "";
    return 0;
}

void weir_admission_response_free(struct weir_admission_response *r)
{
    free(r->message);
    json_decref(r->patch);
    json_decref(r->warnings);
    memset(r, 0, sizeof(*r));
}

char *weir_admission_encode(const char *uid, const struct weir_admission_response *r)
{
    json_t *resp = json_pack("{s:s, s:b}", "uid", uid, "allowed", (int)r->allowed);
    json_t *review = NULL;
    char *out = NULL;
    if (!resp)
        return NULL;
    if (!r->allowed) {
        json_t *status = json_pack("{s:i, s:s, s:s}", "code", r->code ? r->code : 400, "message",
                                   r->message ? r->message : "refused", "reason",
                                   r->code >= 500 ? "InternalError" : "BadRequest");
        if (!status || json_object_set_new(resp, "status", status) != 0)
            goto out;
    }
    if (r->patch) {
        char *text = json_dumps(r->patch, JSON_COMPACT);
        if (!text)
            goto out;
        size_t n = strlen(text);
        unsigned char *b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (!b64) {
            free(text);
            goto out;
        }
        /* OpenSSL's encoder writes one line with no newlines, as Kubernetes
         * expects for a []byte field. */
        EVP_EncodeBlock(b64, (const unsigned char *)text, (int)n);
        free(text);
        int rc = json_object_set_new(resp, "patchType", json_string("JSONPatch")) |
                 json_object_set_new(resp, "patch", json_string((char *)b64));
        free(b64);
        if (rc)
            goto out;
    }
    if (r->warnings && json_array_size(r->warnings)) {
        if (json_object_set(resp, "warnings", r->warnings) != 0)
            goto out;
    }
    review = json_pack("{s:s, s:s, s:O}", "apiVersion", "admission.k8s.io/v1", "kind",
                       "AdmissionReview", "response", resp);
    if (review)
        out = json_dumps(review, JSON_COMPACT);
out:
    json_decref(resp);
    json_decref(review);
    return out;
}

/* ---- diagnostics into a response ---- */

static void add_warnings(struct weir_admission_response *out, const struct weir_diags *d)
{
    for (size_t i = 0; i < d->len; i++) {
        if (d->items[i].severity == WEIR_SEV_ERROR)
            continue;
        if (!out->warnings)
            out->warnings = json_array();
        if (!out->warnings || json_array_size(out->warnings) >= WARNINGS_MAX)
            return;
        char *text = weir_diag_format(&d->items[i]);
        if (text)
            json_array_append_new(out->warnings, json_string(text));
        free(text);
    }
}

/* Every error, joined with "; " so kubectl prints them on one line. */
static char *join_errors(const struct weir_diags *d)
{
    char *buf = malloc(MESSAGE_MAX);
    size_t n = 0, left_out = 0;
    if (!buf)
        return NULL;
    buf[0] = '\0';
    for (size_t i = 0; i < d->len; i++) {
        if (d->items[i].severity != WEIR_SEV_ERROR)
            continue;
        char *text = weir_diag_format(&d->items[i]);
        if (!text)
            continue;
        size_t need = strlen(text) + (n ? 2 : 0);
        if (n + need + 64 >= MESSAGE_MAX) {
            left_out++;
        } else {
            n += (size_t)snprintf(buf + n, MESSAGE_MAX - n, "%s%s", n ? "; " : "", text);
        }
        free(text);
    }
    if (left_out)
        snprintf(buf + n, MESSAGE_MAX - n, "; and %zu more errors", left_out);
    if (d->truncated && n + 48 < MESSAGE_MAX)
        snprintf(buf + strlen(buf), MESSAGE_MAX - strlen(buf), "; (more errors were not listed)");
    return buf;
}

static void fail(struct weir_admission_response *out, int code, enum weir_result result,
                 const char *message)
{
    out->allowed = false;
    out->code = code;
    out->result = result;
    free(out->message);
    out->message = strdup(message);
}

/* ---- /inject ---- */

void weir_admission_inject(const struct weir_admission_review *rv,
                           const struct weir_mesh_config *mc, struct weir_admission_response *out)
{
    struct weir_diags d;
    struct weir_inject_result res;

    memset(out, 0, sizeof(*out));
    out->allowed = true;
    out->result = WEIR_RESULT_SKIPPED;
    /* A webhook registered for more than it should see lets the rest through
     * untouched rather than blocking it. */
    if (strcmp(rv->group, "") != 0 || strcmp(rv->kind, "Pod") != 0 ||
        strcmp(rv->operation, "CREATE") != 0 || !rv->object)
        return;

    weir_diags_init(&d);
    struct weir_inject_request req = {
        .pod = rv->object,
        .namespace_ = rv->namespace_,
        .namespace_labels = NULL, /* the namespaceSelector chose the namespace */
        .mesh = mc,
    };
    if (weir_inject(&req, &res, &d) != 0) {
        fail(out, 500, WEIR_RESULT_ERROR, "weir-webhook: out of memory while injecting");
        weir_diags_free(&d);
        return;
    }
    add_warnings(out, &d);
    switch (res.decision) {
    case WEIR_INJECT_PATCH:
        out->patch = res.patch;
        res.patch = NULL;
        out->result = WEIR_RESULT_INJECTED;
        break;
    case WEIR_INJECT_SKIP:
        out->result = WEIR_RESULT_SKIPPED;
        break;
    case WEIR_INJECT_REFUSE: {
        char *msg = join_errors(&d);
        fail(out, 400, WEIR_RESULT_REFUSED, msg && *msg ? msg : res.reason);
        free(msg);
        break;
    }
    }
    weir_inject_result_free(&res);
    weir_diags_free(&d);
}

/* ---- /validate ---- */

void weir_admission_validate(const struct weir_admission_review *rv,
                             struct weir_admission_response *out)
{
    struct weir_diags d;
    struct weir_resource *r = NULL;

    memset(out, 0, sizeof(*out));
    out->allowed = true;
    out->result = WEIR_RESULT_ALLOWED;
    if (!rv->object || strcmp(rv->operation, "DELETE") == 0)
        return;
    /* An object on its way out (finalizers being removed) must not be held
     * back by its own old mistakes. */
    const json_t *meta = json_object_get(rv->object, "metadata");
    if (strcmp(rv->operation, "UPDATE") == 0 && json_object_get(meta, "deletionTimestamp"))
        return;

    weir_diags_init(&d);
    int rc =
        weir_mesh_parse(rv->object, NULL, 0,
                        rv->namespace_ && *rv->namespace_ ? rv->namespace_ : "default", &r, &d);
    add_warnings(out, &d);
    if (rc < 0) {
        char *msg = join_errors(&d);
        if (!msg)
            fail(out, 500, WEIR_RESULT_ERROR, "weir-webhook: out of memory while validating");
        else
            fail(out, 400, WEIR_RESULT_DENIED, *msg ? msg : "the object is invalid");
        free(msg);
    } else if (out->warnings && json_array_size(out->warnings)) {
        out->result = WEIR_RESULT_WARNED;
    }
    weir_resource_free(r);
    weir_diags_free(&d);
}
