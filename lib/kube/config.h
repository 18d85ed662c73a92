/*
 * Where the API server is and how to authenticate to it: a kubeconfig file
 * (what kubectl reads) or the in-cluster service-account mount.
 *
 * Kubeconfig: the path given, else $KUBECONFIG (a ':'-separated list merged
 * the way kubectl does: the first file to define a cluster, user or context
 * name wins, the first non-empty current-context wins), else ~/.kube/config.
 * Supported: cluster server, certificate-authority(-data),
 * insecure-skip-tls-verify, tls-server-name; user client-certificate(-data),
 * client-key(-data), token, tokenFile; context namespace. Relative file paths
 * are relative to the kubeconfig that names them. exec and auth-provider
 * plugins are refused with a clear error: running programs named in a
 * kubeconfig is out of scope for an in-cluster control plane.
 *
 * In-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with
 * the service-account token, CA and namespace files; the paths can be
 * overridden (tests). The token file is re-read whenever it changes on disk
 * (size, mtime or inode, which covers the kubelet's atomic symlink swap of a
 * projected token), so a rotated token is used on the next request.
 *
 * Errors name the file and the field:
 *   kubeconfig /root/.kube/config: users[name="ci"].user.exec: exec credential
 *   plugins are not supported; use a token, tokenFile or client certificate
 *
 * Return convention: 0 or a negative WEIR_KUBE_ERR_* (kube/error.h). On
 * failure *out is left empty; weir_kube_config_free on it is safe either way.
 */
#ifndef WEIR_KUBE_CONFIG_H
#define WEIR_KUBE_CONFIG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "kube/error.h"

/* A PEM blob: from a file path or inline (already base64-decoded). */
struct weir_kube_pem {
    char *file; /* absolute or relative to the working directory, or NULL */
    char *data; /* NUL-terminated PEM text, or NULL */
    size_t len;
};

struct weir_kube_config {
    char *server;          /* "https://127.0.0.1:6443", no trailing slash */
    char *tls_server_name; /* SNI / name checked against the certificate, or NULL */
    bool insecure_skip_tls_verify;
    struct weir_kube_pem ca;
    struct weir_kube_pem client_cert;
    struct weir_kube_pem client_key;
    char *token;      /* a static bearer token, or NULL */
    char *token_file; /* re-read when it changes; wins over token when both are set */
    char *namespace;  /* the context's namespace, the in-cluster one, or "default" */
    char *source;     /* "kubeconfig /path (context x)" or "in-cluster", for messages */

    /* Token file cache, guarded by token_lock. */
    pthread_mutex_t token_lock;
    char *token_cached;
    dev_t token_dev;
    ino_t token_ino;
    off_t token_size;
    struct timespec token_mtime;
};

/* Largest kubeconfig, token or PEM file read. */
#define WEIR_KUBE_CONFIG_FILE_MAX (4u << 20)

/* path: a kubeconfig file, or NULL for $KUBECONFIG, then ~/.kube/config.
 * context: a context name, or NULL for current-context. */
int weir_kube_config_load_kubeconfig(const char *path, const char *context,
                                     struct weir_kube_config *out, struct weir_kube_error *err);

/* Paths of the service-account mount; a NULL member takes the default under
 * /var/run/secrets/kubernetes.io/serviceaccount/. */
struct weir_kube_in_cluster_paths {
    const char *token_file;
    const char *ca_file;
    const char *namespace_file;
};

int weir_kube_config_load_in_cluster(const struct weir_kube_in_cluster_paths *paths,
                                     struct weir_kube_config *out, struct weir_kube_error *err);

/* In-cluster when $KUBERNETES_SERVICE_HOST is set and no kubeconfig path is
 * given and $KUBECONFIG is unset; the kubeconfig otherwise. */
int weir_kube_config_load_default(const char *kubeconfig, struct weir_kube_config *out,
                                  struct weir_kube_error *err);

/* The bearer token to send now (the token file re-read if it changed), as a
 * new string in *out, or *out = NULL when the config has no token. Thread-safe. */
int weir_kube_config_token(struct weir_kube_config *c, char **out, struct weir_kube_error *err);

void weir_kube_config_free(struct weir_kube_config *c);

/* Standard base64 (padding optional, whitespace skipped, as in kubeconfig
 * *-data fields). Returns a NUL-terminated buffer or NULL when not base64 or
 * out of memory (*oom tells which). */
char *weir_kube_base64_decode(const char *text, size_t *out_len, bool *oom);

#endif
