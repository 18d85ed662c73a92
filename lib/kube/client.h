/*
 * A Kubernetes API client over libcurl, with JSON (jansson) bodies.
 *
 * One client per process and API server; it is thread-safe. Each request
 * borrows a curl easy handle from a small pool and gives it back, so its
 * keep-alive connection (HTTP/2 when libcurl has it, negotiated by ALPN, else
 * HTTP/1.1) is reused by the next request of any thread; DNS results and TLS
 * sessions are shared between the handles through a curl share object. Live
 * connections are not shared between handles: libcurl does not support one
 * connection cache used by concurrent threads, and a watch holds its handle
 * (and connection) for its whole life anyway.
 *
 * Every request waits for the client-side rate limiter (kube/ratelimit.h),
 * sends the bearer token (re-read when its file changes) or the client
 * certificate, and is bounded: connect and whole-request timeouts, and a
 * response size limit (64 MiB by default) past which it fails with
 * WEIR_KUBE_ERR_TOO_LARGE instead of growing without end. Watches
 * (kube/watch.h) stream through the same client.
 *
 * Objects returned are new references the caller owns (json_decref).
 * Writes send the client's fieldManager, so managedFields name the program.
 *
 * Return convention: 0 or a negative WEIR_KUBE_ERR_* with *err filled; an
 * API server refusal is WEIR_KUBE_ERR_HTTP (WEIR_KUBE_ERR_GONE for 410) with
 * the HTTP status and the Status reason and message (kube/error.h).
 *
 * libcurl's global state is set up by the first client and torn down with
 * the last one (libcurl counts the calls); nothing else to call.
 */
#ifndef WEIR_KUBE_CLIENT_H
#define WEIR_KUBE_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "kube/config.h"
#include "kube/error.h"
#include "kube/resource.h"

#define WEIR_KUBE_DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define WEIR_KUBE_DEFAULT_REQUEST_TIMEOUT_MS 60000L
#define WEIR_KUBE_DEFAULT_MAX_RESPONSE       (64u << 20)

struct weir_kube_client_options {
    double qps;                /* 0: WEIR_KUBE_DEFAULT_QPS; < 0: no limit */
    int burst;                 /* 0: WEIR_KUBE_DEFAULT_BURST */
    long connect_timeout_ms;   /* 0: 10 s */
    long request_timeout_ms;   /* 0: 60 s; every request but watches */
    size_t max_response_bytes; /* 0: 64 MiB, after decompression */
    const char *user_agent;    /* NULL: "weir/<version>" */
    const char *field_manager; /* sent with every write; NULL: none */
    bool http1_only;           /* do not offer HTTP/2 */
};

struct weir_kube_client;

/* cfg is borrowed and must outlive the client (its token cache is updated). */
int weir_kube_client_new(struct weir_kube_config *cfg, const struct weir_kube_client_options *opts,
                         struct weir_kube_client **out, struct weir_kube_error *err);
void weir_kube_client_free(struct weir_kube_client *c);

struct weir_kube_config *weir_kube_client_config(struct weir_kube_client *c);

/* ---- raw requests ------------------------------------------------------------ */

struct weir_kube_request {
    const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;         /* "/api/v1/namespaces/x/configmaps" */
    const char *query;        /* NULL, "" or "?a=b" (already encoded) */
    const char *content_type; /* NULL: application/json when there is a body */
    const char *body;         /* NULL: none */
    size_t body_len;
    long timeout_ms;           /* 0: the client's request timeout; < 0: none */
    const atomic_bool *cancel; /* when it turns true the request ends with STOPPED */
};

/* Sends the request and decodes a 2xx JSON answer into *out (when out is not
 * NULL; an empty body gives json null). */
int weir_kube_request_json(struct weir_kube_client *c, const struct weir_kube_request *req,
                           json_t **out, struct weir_kube_error *err);

/* Streams a 2xx answer's body to on_data as it arrives (watches). on_data and
 * on_idle (called about once a second while the stream is quiet; may be
 * NULL) return 0 to go on; anything else ends the request and is returned. A
 * non-2xx answer is buffered and returned as an error as usual. */
typedef int (*weir_kube_data_fn)(void *arg, const char *data, size_t len);
typedef int (*weir_kube_idle_fn)(void *arg);
int weir_kube_request_stream(struct weir_kube_client *c, const struct weir_kube_request *req,
                             weir_kube_data_fn on_data, weir_kube_idle_fn on_idle, void *arg,
                             struct weir_kube_error *err);

/* ---- typed helpers ------------------------------------------------------------
 * res: what to act on (kube/resource.h); ns: the namespace for namespaced
 * resources (NULL or "": the object's own metadata.namespace for writes, all
 * namespaces for lists), ignored for cluster-scoped ones; name: the object. */

int weir_kube_get(struct weir_kube_client *c, const struct weir_kube_resource *res, const char *ns,
                  const char *name, json_t **out, struct weir_kube_error *err);

struct weir_kube_list_options {
    const char *label_selector; /* "app=x,tier!=web" */
    const char *field_selector; /* "metadata.name=x" */
    long limit;                 /* page size; 0: one page of whatever the server sends */
    const char *resource_version;
    const atomic_bool *cancel;
    /* Called on each item as its page arrives (apiVersion and kind set), so
     * that a caller trimming objects never holds a whole untrimmed list; may
     * be NULL. */
    void (*each)(json_t *item, void *arg);
    void *each_arg;
};

struct weir_kube_list_result {
    json_t *items;          /* array of objects, each with apiVersion and kind set */
    char *resource_version; /* the list's: start a watch from here */
    unsigned pages;         /* requests it took (continue tokens followed + 1) */
};

/* Lists every page (following metadata.continue). A continue token that
 * expired mid-list fails with WEIR_KUBE_ERR_GONE: callers relist. */
int weir_kube_list(struct weir_kube_client *c, const struct weir_kube_resource *res, const char *ns,
                   const struct weir_kube_list_options *opts, struct weir_kube_list_result *out,
                   struct weir_kube_error *err);
void weir_kube_list_result_free(struct weir_kube_list_result *r);

/* One page, as the server sent it (a *List object). */
int weir_kube_list_page(struct weir_kube_client *c, const struct weir_kube_resource *res,
                        const char *ns, const struct weir_kube_list_options *opts,
                        const char *continue_token, json_t **out, struct weir_kube_error *err);

/* POST; out may be NULL. */
int weir_kube_create(struct weir_kube_client *c, const struct weir_kube_resource *res,
                     const char *ns, const json_t *obj, json_t **out, struct weir_kube_error *err);

/* PUT of the whole object; its metadata.resourceVersion makes it a
 * compare-and-swap: a stale one fails with 409 Conflict
 * (weir_kube_error_is_conflict). name NULL: taken from obj. */
int weir_kube_update(struct weir_kube_client *c, const struct weir_kube_resource *res,
                     const char *ns, const char *name, const json_t *obj, json_t **out,
                     struct weir_kube_error *err);
/* The same on the status subresource: only .status is written. */
int weir_kube_update_status(struct weir_kube_client *c, const struct weir_kube_resource *res,
                            const char *ns, const char *name, const json_t *obj, json_t **out,
                            struct weir_kube_error *err);

enum weir_kube_patch_type {
    WEIR_KUBE_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
    WEIR_KUBE_PATCH_JSON,      /* application/json-patch+json (RFC 6902) */
    WEIR_KUBE_PATCH_STRATEGIC, /* application/strategic-merge-patch+json, built-ins only */
    WEIR_KUBE_PATCH_APPLY,     /* server-side apply: application/apply-patch+yaml */
};

struct weir_kube_patch_options {
    enum weir_kube_patch_type type;
    const char *subresource;   /* NULL or "status" */
    const char *field_manager; /* NULL: the client's; required for APPLY */
    bool force;                /* APPLY: take over fields other managers own */
};

int weir_kube_patch(struct weir_kube_client *c, const struct weir_kube_resource *res,
                    const char *ns, const char *name, const json_t *patch,
                    const struct weir_kube_patch_options *opts, json_t **out,
                    struct weir_kube_error *err);

/* Server-side apply of a whole desired object (name and namespace from its
 * metadata when ns is NULL). Applying the same object twice changes nothing. */
int weir_kube_apply(struct weir_kube_client *c, const struct weir_kube_resource *res,
                    const char *ns, const json_t *obj, const char *field_manager, bool force,
                    json_t **out, struct weir_kube_error *err);

struct weir_kube_delete_options {
    const char *propagation_policy; /* NULL, "Foreground", "Background", "Orphan" */
    const char *precondition_uid;
    const char *precondition_resource_version;
    long grace_period_seconds; /* < 0: the object's default */
};

/* opts may be NULL. A missing object is 404 (weir_kube_error_is_not_found). */
int weir_kube_delete(struct weir_kube_client *c, const struct weir_kube_resource *res,
                     const char *ns, const char *name, const struct weir_kube_delete_options *opts,
                     struct weir_kube_error *err);

/* An events.k8s.io/v1 Event about an object. Shown by `kubectl describe` of
 * that object and `kubectl events`. */
struct weir_kube_event {
    const json_t *regarding;          /* the object: needs apiVersion, kind, metadata.name */
    const char *type;                 /* "Normal" or "Warning" */
    const char *reason;               /* UpperCamelCase: "ConfigWritten" */
    const char *action;               /* what was done: "Reconcile" */
    const char *note;                 /* for humans; cut at 1 KiB (the API's limit) */
    const char *reporting_controller; /* "weir.dev/operator" */
    const char *reporting_instance;   /* NULL: the host name */
};

int weir_kube_event_create(struct weir_kube_client *c, const struct weir_kube_event *ev,
                           json_t **out, struct weir_kube_error *err);

/* Helpers on objects. */
const char *weir_kube_obj_name(const json_t *obj);
const char *weir_kube_obj_namespace(const json_t *obj);
const char *weir_kube_obj_resource_version(const json_t *obj);

/* Fills err from an HTTP answer: the Status object's reason and message when
 * the body is one, else a cleaned excerpt of the body. Returns the code
 * (WEIR_KUBE_ERR_GONE for 410, WEIR_KUBE_ERR_HTTP otherwise). */
int weir_kube_error_from_status(struct weir_kube_error *err, const char *what, long http_status,
                                const char *body, size_t len);

#endif
