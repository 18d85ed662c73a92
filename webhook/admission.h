/*
 * AdmissionReview v1 (admission.k8s.io/v1): decoding the API server's request
 * and encoding the response, and the two webhooks built on lib/:
 *
 *   /inject    Pod CREATE -> weir_inject(); a JSONPatch, or allowed unchanged,
 *              or refused with every reason.
 *   /validate  mesh CR CREATE/UPDATE -> weir_mesh_parse(), the code weirctl
 *              validate and the operator run; refused with every error,
 *              allowed with unsupported fields as warnings.
 *
 * No I/O here: the server hands in a body and sends back the encoded text.
 * Return convention: 0 success, -1 failure with a sentence in err.
 */
#ifndef WEIR_WEBHOOK_ADMISSION_H
#define WEIR_WEBHOOK_ADMISSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "meshconfig/mesh_config.h"
#include "metrics.h"

struct weir_admission_review {
    json_t *root; /* the whole review, owned */
    const char *uid;
    const char *operation; /* CREATE, UPDATE, DELETE, CONNECT */
    const char *namespace_;
    const char *name;
    const char *group, *version, *kind; /* request.kind */
    const json_t *object;               /* request.object, NULL for DELETE */
    bool dry_run;
};

/* Parses a request body. Refuses (with the reason in err, fit for an HTTP 400
 * body) anything that is not JSON or not an admission.k8s.io/v1
 * AdmissionReview with request.uid. */
int weir_admission_decode(const char *body, size_t len, struct weir_admission_review *out,
                          char *err, size_t errlen);
void weir_admission_review_free(struct weir_admission_review *rv);

struct weir_admission_response {
    bool allowed;
    int code;         /* status.code when refused: 400 for a bad object, 500 for our failure */
    char *message;    /* status.message, owned, NULL for none */
    json_t *patch;    /* a JSON Patch array, owned, NULL for none */
    json_t *warnings; /* array of strings, owned, NULL for none */
    enum weir_result result;
};

void weir_admission_response_free(struct weir_admission_response *r);

/* The AdmissionReview response document for request `uid`. Caller frees;
 * NULL when out of memory. */
char *weir_admission_encode(const char *uid, const struct weir_admission_response *r);

void weir_admission_inject(const struct weir_admission_review *rv,
                           const struct weir_mesh_config *mc, struct weir_admission_response *out);
void weir_admission_validate(const struct weir_admission_review *rv,
                             struct weir_admission_response *out);

#endif
