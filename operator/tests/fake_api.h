/*
 * Test doubles for the operator's unit tests: a plain-HTTP server on loopback
 * that plays the API server through a handler function and records every
 * request, a client for it, and an informer whose list returns canned
 * objects and whose watch stays quiet until stopped.
 */
#ifndef WEIR_OP_TEST_FAKE_API_H
#define WEIR_OP_TEST_FAKE_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kube/client.h"
#include "kube/informer.h"

#define FAKE_MAX_REQUESTS 256

struct fake_request {
    char method[16];
    char path[512]; /* with the query */
    char *body;
};

/* Returns the HTTP status and sets *body (malloc'd JSON, or NULL for "{}"). */
typedef int (*fake_handler)(void *arg, const struct fake_request *req, char **body);

struct fake_api;

struct fake_api *fake_api_start(fake_handler h, void *arg);
void fake_api_stop(struct fake_api *f);
/* A client talking to it (no rate limit); free with fake_api_client_free. */
struct weir_kube_client *fake_api_client(struct fake_api *f);
void fake_api_client_free(struct weir_kube_client *c);
size_t fake_api_count(struct fake_api *f);
/* The i-th request (copied out under the lock). */
struct fake_request fake_api_request(struct fake_api *f, size_t i);
void fake_api_reset(struct fake_api *f);
/* Leave GET requests out of the record (informers list and watch a lot). */
void fake_api_record_gets(struct fake_api *f, bool record);

/* An informer over items (a JSON array, borrowed), synced on return. */
struct weir_kube_informer *fake_informer(const struct weir_kube_resource *res, json_t *items);
void fake_informer_free(struct weir_kube_informer *inf);

void fake_sleep_ms(int ms);

#endif
