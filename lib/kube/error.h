/*
 * Errors of the Kubernetes client (lib/kube/).
 *
 * Return convention of every lib/kube function that returns int: 0 on
 * success, one of the negative WEIR_KUBE_ERR_* codes on failure, and then the
 * caller's struct weir_kube_error (when given) says what happened. An error
 * from the API server carries its HTTP status and the Status object's reason
 * and message verbatim, so that what a user reads is what kubectl would print:
 *
 *   PUT /api/v1/namespaces/demo/configmaps/cm-1: 409 Conflict: Operation cannot
 *   be fulfilled on configmaps "cm-1": the object has been modified; please
 *   apply your changes to the latest version and try again
 *
 * The struct holds fixed-size buffers so it can live on the stack and never
 * needs freeing; a message longer than the buffer is cut, never lost whole.
 */
#ifndef WEIR_KUBE_ERROR_H
#define WEIR_KUBE_ERROR_H

#include <stdbool.h>
#include <stddef.h>

enum weir_kube_err {
    WEIR_KUBE_OK = 0,
    WEIR_KUBE_ERR_NOMEM = -1,
    WEIR_KUBE_ERR_INVALID = -2,   /* a bad argument from the caller */
    WEIR_KUBE_ERR_CONFIG = -3,    /* kubeconfig or in-cluster configuration */
    WEIR_KUBE_ERR_TRANSPORT = -4, /* connect, TLS, timeout: no HTTP answer */
    WEIR_KUBE_ERR_HTTP = -5,      /* the API server answered with an error status */
    WEIR_KUBE_ERR_DECODE = -6,    /* the answer is not the JSON we expect */
    WEIR_KUBE_ERR_TOO_LARGE = -7, /* a response or watch event over its size limit */
    WEIR_KUBE_ERR_GONE = -8,      /* 410: resourceVersion or continue token too old */
    WEIR_KUBE_ERR_STOPPED = -9,   /* the caller asked to stop (informer shutdown) */
};

#define WEIR_KUBE_ERROR_WHAT_MAX    256
#define WEIR_KUBE_ERROR_REASON_MAX  64
#define WEIR_KUBE_ERROR_MESSAGE_MAX 1024

struct weir_kube_error {
    int code;                                  /* enum weir_kube_err */
    long http_status;                          /* 0 when no HTTP answer was read */
    char what[WEIR_KUBE_ERROR_WHAT_MAX];       /* "GET /api/v1/...", a file name, or "" */
    char reason[WEIR_KUBE_ERROR_REASON_MAX];   /* Status.reason ("Conflict"), or "" */
    char message[WEIR_KUBE_ERROR_MESSAGE_MAX]; /* Status.message or our own text */
};

/* Clears the error; safe on NULL. */
void weir_kube_error_clear(struct weir_kube_error *err);

/* Fills the error (any argument may be NULL; err may be NULL) and returns
 * code, so that a failure path reads `return weir_kube_error_set(err, ...)`. */
int weir_kube_error_set(struct weir_kube_error *err, int code, const char *what, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* "<what>: <status> <reason>: <message>", leaving out what is empty. Returns
 * buf. */
const char *weir_kube_error_format(const struct weir_kube_error *err, char *buf, size_t len);

/* A short fixed text for a code: "conflict", "transport error", ... */
const char *weir_kube_strerror(int code);

/* The API server's verdicts callers branch on. */
bool weir_kube_error_is_not_found(const struct weir_kube_error *err);
bool weir_kube_error_is_conflict(const struct weir_kube_error *err);
bool weir_kube_error_is_already_exists(const struct weir_kube_error *err);

#endif
