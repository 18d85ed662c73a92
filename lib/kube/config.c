#include "kube/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/diag.h"
#include "yaml/yaml_json.h"

#define SA_DIR          "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_KUBECONFIGS 16
#define TOKEN_FILE_MAX  (64u << 10)

/* ---- small helpers ---------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

char *weir_kube_base64_decode(const char *text, size_t *out_len, bool *oom)
{
    size_t cap = strlen(text) / 4 * 3 + 4, n = 0, digits = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0;
    char *out;

    *oom = false;
    out = malloc(cap);
    if (!out) {
        *oom = true;
        return NULL;
    }
    for (const char *p = text; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad > 0)
            goto bad; /* a stray byte, or data after padding */
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        digits++;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (digits % 4 == 1 || pad > 2 || (pad > 0 && (digits + pad) % 4 != 0))
        goto bad;
    out[n] = '\0';
    if (out_len)
        *out_len = n;
    return out;
bad:
    free(out);
    return NULL;
}

/* Reads a whole small file; NULL with errno set on failure (EFBIG past max). */
static char *read_file(const char *path, size_t max, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max) {
                free(buf);
                fclose(f);
                errno = EFBIG;
                return NULL;
            }
            cap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                free(buf);
                fclose(f);
                errno = e;
                return NULL;
            }
            break;
        }
    }
    fclose(f);
    if (len > max) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

static void trim_right(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

static char *join_path(const char *dir, const char *file)
{
    size_t n;
    char *s;

    if (file[0] == '/' || !dir || !*dir)
        return strdup(file);
    n = strlen(dir) + strlen(file) + 2;
    s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, file);
    return s;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup("");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static void config_init(struct weir_kube_config *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->token_lock, NULL);
}

static void pem_free(struct weir_kube_pem *p)
{
    free(p->file);
    free(p->data);
    memset(p, 0, sizeof(*p));
}

void weir_kube_config_free(struct weir_kube_config *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->tls_server_name);
    pem_free(&c->ca);
    pem_free(&c->client_cert);
    pem_free(&c->client_key);
    free(c->token);
    free(c->token_file);
    free(c->namespace);
    free(c->source);
    free(c->token_cached);
    pthread_mutex_destroy(&c->token_lock);
    memset(c, 0, sizeof(*c));
}

/* ---- kubeconfig ------------------------------------------------------------- */

/* One parsed kubeconfig file of a (possibly merged) set. */
struct kc_file {
    char *path;
    char *dir;
    struct weir_yaml_stream yaml;
    json_t *root; /* borrowed from yaml; NULL for an empty file */
};

struct kc {
    struct kc_file files[MAX_KUBECONFIGS];
    size_t nfiles;
    char label[1024]; /* "PATH" or "PATH1:PATH2" for messages about the set */
    struct weir_kube_error *err;
};

/* A named entry found in one of the files. */
struct kc_entry {
    const struct kc_file *file;
    const json_t *body; /* the "cluster" / "user" / "context" mapping */
    const char *name;
};

static int kc_fail(struct kc *k, const struct kc_file *f, const json_t *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefixes "kubeconfig FILE[:LINE]: " to the message. */
static int kc_fail(struct kc *k, const struct kc_file *f, const json_t *node, const char *fmt, ...)
{
    char msg[WEIR_KUBE_ERROR_MESSAGE_MAX];
    va_list ap;
    int line = f && node ? weir_yaml_line(&f->yaml, node) : 0;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        return weir_kube_error_set(k->err, WEIR_KUBE_ERR_CONFIG, NULL, "kubeconfig %s:%d: %s",
                                   f->path, line, msg);
    return weir_kube_error_set(k->err, WEIR_KUBE_ERR_CONFIG, NULL, "kubeconfig %s: %s",
                               f ? f->path : k->label, msg);
}

static void kc_free(struct kc *k)
{
    for (size_t i = 0; i < k->nfiles; i++) {
        free(k->files[i].path);
        free(k->files[i].dir);
        weir_yaml_stream_free(&k->files[i].yaml);
    }
    k->nfiles = 0;
}

static int kc_add_file(struct kc *k, const char *path)
{
    struct kc_file *f;
    struct weir_diags diags;
    int rc;

    if (k->nfiles == MAX_KUBECONFIGS)
        return weir_kube_error_set(k->err, WEIR_KUBE_ERR_CONFIG, NULL,
                                   "KUBECONFIG names more than %d files", MAX_KUBECONFIGS);
    f = &k->files[k->nfiles];
    memset(f, 0, sizeof(*f));
    f->path = strdup(path);
    f->dir = dir_of(path);
    if (!f->path || !f->dir) {
        free(f->path);
        free(f->dir);
        return weir_kube_error_set(k->err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    }
    k->nfiles++;

    weir_diags_init(&diags);
    struct weir_yaml_limits limits = weir_yaml_default_limits;
    limits.max_bytes = WEIR_KUBE_CONFIG_FILE_MAX;
    rc = weir_yaml_parse_file(path, &limits, &f->yaml, &diags);
    if (rc != 0) {
        const struct weir_diag *d = diags.len ? &diags.items[0] : NULL;
        if (d && d->line > 0)
            rc = weir_kube_error_set(k->err, WEIR_KUBE_ERR_CONFIG, NULL, "kubeconfig %s:%d: %s",
                                     path, d->line, d->message);
        else
            rc = weir_kube_error_set(k->err, WEIR_KUBE_ERR_CONFIG, NULL, "kubeconfig %s: %s", path,
                                     d ? d->message : "cannot parse");
        weir_diags_free(&diags);
        return rc;
    }
    weir_diags_free(&diags);
    if (f->yaml.ndocs > 1)
        return kc_fail(k, f, NULL, "holds %zu YAML documents, expected one", f->yaml.ndocs);
    if (f->yaml.ndocs == 1) {
        f->root = f->yaml.docs[0].root;
        if (!json_is_object(f->root))
            return kc_fail(k, f, f->root, "must be a mapping (a Config object)");
    }
    return 0;
}

/* Finds the entry named `name` in the `list` ("clusters") of the first file
 * that has it, checking the shape of every list it walks. */
static int kc_find(struct kc *k, const char *list, const char *body_key, const char *name,
                   struct kc_entry *out)
{
    for (size_t i = 0; i < k->nfiles; i++) {
        const struct kc_file *f = &k->files[i];
        const json_t *arr = f->root ? json_object_get(f->root, list) : NULL;
        size_t idx;
        const json_t *item;

        if (!arr || json_is_null(arr))
            continue;
        if (!json_is_array(arr))
            return kc_fail(k, f, arr, "%s: must be a list", list);
        json_array_foreach(arr, idx, item)
        {
            const json_t *n = json_object_get(item, "name");
            if (!json_is_object(item))
                return kc_fail(k, f, item, "%s[%zu]: must be a mapping", list, idx);
            if (!json_is_string(n))
                return kc_fail(k, f, item, "%s[%zu].name: must be a string", list, idx);
            if (strcmp(json_string_value(n), name) != 0)
                continue;
            const json_t *body = json_object_get(item, body_key);
            if (body && !json_is_object(body) && !json_is_null(body))
                return kc_fail(k, f, body, "%s[name=\"%s\"].%s: must be a mapping", list, name,
                               body_key);
            out->file = f;
            out->body = json_is_object(body) ? body : NULL;
            out->name = json_string_value(n);
            return 1;
        }
    }
    return 0;
}

/* A string field of an entry: 0 and *out (NULL when absent), or an error. */
static int kc_string(struct kc *k, const struct kc_entry *e, const char *list, const char *body_key,
                     const char *field, const char **out)
{
    const json_t *v = e->body ? json_object_get(e->body, field) : NULL;

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return kc_fail(k, e->file, v, "%s[name=\"%s\"].%s.%s: must be a string", list, e->name,
                       body_key, field);
    *out = json_string_value(v);
    if (!**out)
        *out = NULL;
    return 0;
}

static int kc_bool(struct kc *k, const struct kc_entry *e, const char *list, const char *body_key,
                   const char *field, bool *out)
{
    const json_t *v = e->body ? json_object_get(e->body, field) : NULL;

    *out = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return kc_fail(k, e->file, v, "%s[name=\"%s\"].%s.%s: must be true or false", list, e->name,
                       body_key, field);
    *out = json_is_true(v);
    return 0;
}

/* file + data pair (certificate-authority / certificate-authority-data): data
 * wins, as in kubectl; a file path is made absolute against the kubeconfig's
 * folder and must be readable now, so a typo is reported at start-up. */
static int kc_pem(struct kc *k, const struct kc_entry *e, const char *list, const char *body_key,
                  const char *field, struct weir_kube_pem *out)
{
    char data_field[96];
    const char *file, *data;
    int rc;

    snprintf(data_field, sizeof(data_field), "%s-data", field);
    if ((rc = kc_string(k, e, list, body_key, field, &file)) != 0 ||
        (rc = kc_string(k, e, list, body_key, data_field, &data)) != 0)
        return rc;
    if (data) {
        bool oom;
        out->data = weir_kube_base64_decode(data, &out->len, &oom);
        if (!out->data) {
            if (oom)
                return weir_kube_error_set(k->err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
            return kc_fail(k, e->file, json_object_get(e->body, data_field),
                           "%s[name=\"%s\"].%s.%s: not valid base64", list, e->name, body_key,
                           data_field);
        }
        if (out->len == 0 || !strstr(out->data, "-----BEGIN "))
            return kc_fail(k, e->file, json_object_get(e->body, data_field),
                           "%s[name=\"%s\"].%s.%s: does not decode to PEM", list, e->name, body_key,
                           data_field);
        return 0;
    }
    if (file) {
        out->file = join_path(e->file->dir, file);
        if (!out->file)
            return weir_kube_error_set(k->err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        if (access(out->file, R_OK) != 0)
            return kc_fail(k, e->file, json_object_get(e->body, field),
                           "%s[name=\"%s\"].%s.%s: cannot read %s: %s", list, e->name, body_key,
                           field, out->file, strerror(errno));
    }
    return 0;
}

static int kc_refuse(struct kc *k, const struct kc_entry *e, const char *field, const char *why)
{
    const json_t *v = e->body ? json_object_get(e->body, field) : NULL;
    if (!v || json_is_null(v))
        return 0;
    return kc_fail(k, e->file, v, "users[name=\"%s\"].user.%s: %s", e->name, field, why);
}

static int kc_user(struct kc *k, const struct kc_entry *u, struct weir_kube_config *out)
{
    const char *token, *token_file;
    int rc;

    if ((rc = kc_refuse(k, u, "exec",
                        "exec credential plugins are not supported; use a token, tokenFile or "
                        "client certificate")) != 0 ||
        (rc = kc_refuse(k, u, "auth-provider",
                        "auth-provider plugins are not supported; use a token, tokenFile or "
                        "client certificate")) != 0 ||
        (rc = kc_refuse(k, u, "username",
                        "basic authentication is not supported (removed from Kubernetes in "
                        "1.19)")) != 0)
        return rc;
    if ((rc = kc_pem(k, u, "users", "user", "client-certificate", &out->client_cert)) != 0 ||
        (rc = kc_pem(k, u, "users", "user", "client-key", &out->client_key)) != 0 ||
        (rc = kc_string(k, u, "users", "user", "token", &token)) != 0 ||
        (rc = kc_string(k, u, "users", "user", "tokenFile", &token_file)) != 0)
        return rc;
    bool has_cert = out->client_cert.file || out->client_cert.data;
    bool has_key = out->client_key.file || out->client_key.data;
    if (has_cert != has_key)
        return kc_fail(k, u->file, u->body, "users[name=\"%s\"].user: %s", u->name,
                       has_cert ? "client-certificate is set without client-key"
                                : "client-key is set without client-certificate");
    if (token && !(out->token = strdup(token)))
        return weir_kube_error_set(k->err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    if (token_file) {
        out->token_file = join_path(u->file->dir, token_file);
        if (!out->token_file)
            return weir_kube_error_set(k->err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        if (access(out->token_file, R_OK) != 0)
            return kc_fail(k, u->file, json_object_get(u->body, "tokenFile"),
                           "users[name=\"%s\"].user.tokenFile: cannot read %s: %s", u->name,
                           out->token_file, strerror(errno));
    }
    return 0;
}

static int kc_cluster(struct kc *k, const struct kc_entry *cl, struct weir_kube_config *out)
{
    const char *server, *sni;
    int rc;

    if ((rc = kc_string(k, cl, "clusters", "cluster", "server", &server)) != 0 ||
        (rc = kc_string(k, cl, "clusters", "cluster", "tls-server-name", &sni)) != 0 ||
        (rc = kc_bool(k, cl, "clusters", "cluster", "insecure-skip-tls-verify",
                      &out->insecure_skip_tls_verify)) != 0 ||
        (rc = kc_pem(k, cl, "clusters", "cluster", "certificate-authority", &out->ca)) != 0)
        return rc;
    if (!server)
        return kc_fail(k, cl->file, cl->body, "clusters[name=\"%s\"].cluster.server: missing",
                       cl->name);
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
        return kc_fail(k, cl->file, json_object_get(cl->body, "server"),
                       "clusters[name=\"%s\"].cluster.server: must be an http:// or https:// "
                       "URL, got \"%s\"",
                       cl->name, server);
    if (!(out->server = strdup(server)))
        return weir_kube_error_set(k->err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    for (size_t n = strlen(out->server); n > 0 && out->server[n - 1] == '/'; n--)
        out->server[n - 1] = '\0';
    if (sni && !(out->tls_server_name = strdup(sni)))
        return weir_kube_error_set(k->err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    return 0;
}

/* The files to read: the argument, else $KUBECONFIG's existing entries, else
 * ~/.kube/config. */
static int kc_load_files(struct kc *k, const char *path)
{
    const char *env = getenv("KUBECONFIG");
    int rc;

    if (path && *path) {
        snprintf(k->label, sizeof(k->label), "%s", path);
        return kc_add_file(k, path);
    }
    if (env && *env) {
        char *list = strdup(env), *save = NULL;
        if (!list)
            return weir_kube_error_set(k->err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        snprintf(k->label, sizeof(k->label), "%s", env);
        bool single = !strchr(env, ':');
        for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
            /* kubectl skips missing members of a list but not a lone file. */
            if (!single && access(p, F_OK) != 0)
                continue;
            if ((rc = kc_add_file(k, p)) != 0) {
                free(list);
                return rc;
            }
        }
        free(list);
        if (k->nfiles == 0)
            return weir_kube_error_set(k->err, WEIR_KUBE_ERR_CONFIG, NULL,
                                       "KUBECONFIG=%s: none of the files exist", env);
        return 0;
    }
    const char *home = getenv("HOME");
    if (!home || !*home)
        return weir_kube_error_set(k->err, WEIR_KUBE_ERR_CONFIG, NULL,
                                   "no kubeconfig: KUBECONFIG and HOME are unset");
    snprintf(k->label, sizeof(k->label), "%s/.kube/config", home);
    return kc_add_file(k, k->label);
}

int weir_kube_config_load_kubeconfig(const char *path, const char *context,
                                     struct weir_kube_config *out, struct weir_kube_error *err)
{
    struct kc *k = calloc(1, sizeof(*k));
    struct kc_entry ctx = {0}, cl = {0}, user = {0};
    const char *cluster_name = NULL, *user_name = NULL, *ns = NULL;
    const struct kc_file *ctx_source = NULL;
    const json_t *ctx_node = NULL;
    int rc;

    weir_kube_error_clear(err);
    config_init(out);
    if (!k)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    k->err = err;
    if ((rc = kc_load_files(k, path)) != 0)
        goto fail;

    if (!context || !*context) {
        for (size_t i = 0; i < k->nfiles && !context; i++) {
            const json_t *cc =
                k->files[i].root ? json_object_get(k->files[i].root, "current-context") : NULL;
            if (cc && !json_is_null(cc) && !json_is_string(cc)) {
                rc = kc_fail(k, &k->files[i], cc, "current-context: must be a string");
                goto fail;
            }
            if (json_is_string(cc) && *json_string_value(cc)) {
                context = json_string_value(cc);
                ctx_source = &k->files[i];
                ctx_node = cc;
            }
        }
        if (!context) {
            rc = kc_fail(k, NULL, NULL, "current-context is not set and no context was given");
            goto fail;
        }
    }
    if ((rc = kc_find(k, "contexts", "context", context, &ctx)) < 0)
        goto fail;
    if (rc == 0) {
        if (ctx_node)
            rc = kc_fail(k, ctx_source, ctx_node, "current-context: context \"%s\" not found",
                         context);
        else
            rc = kc_fail(k, NULL, NULL, "context \"%s\" not found", context);
        goto fail;
    }
    if ((rc = kc_string(k, &ctx, "contexts", "context", "cluster", &cluster_name)) != 0 ||
        (rc = kc_string(k, &ctx, "contexts", "context", "user", &user_name)) != 0 ||
        (rc = kc_string(k, &ctx, "contexts", "context", "namespace", &ns)) != 0)
        goto fail;
    if (!cluster_name) {
        rc = kc_fail(k, ctx.file, ctx.body, "contexts[name=\"%s\"].context.cluster: missing",
                     context);
        goto fail;
    }
    if ((rc = kc_find(k, "clusters", "cluster", cluster_name, &cl)) < 0)
        goto fail;
    if (rc == 0) {
        rc = kc_fail(k, ctx.file, json_object_get(ctx.body, "cluster"),
                     "contexts[name=\"%s\"].context.cluster: cluster \"%s\" not found", context,
                     cluster_name);
        goto fail;
    }
    if ((rc = kc_cluster(k, &cl, out)) != 0)
        goto fail;
    if (user_name) {
        if ((rc = kc_find(k, "users", "user", user_name, &user)) < 0)
            goto fail;
        if (rc == 0) {
            rc = kc_fail(k, ctx.file, json_object_get(ctx.body, "user"),
                         "contexts[name=\"%s\"].context.user: user \"%s\" not found", context,
                         user_name);
            goto fail;
        }
        if ((rc = kc_user(k, &user, out)) != 0)
            goto fail;
    }
    out->namespace = strdup(ns ? ns : "default");
    size_t n = strlen(k->label) + strlen(context) + 32;
    out->source = malloc(n);
    if (!out->namespace || !out->source) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        goto fail;
    }
    snprintf(out->source, n, "kubeconfig %s (context %s)", k->label, context);
    kc_free(k);
    free(k);
    return 0;
fail:
    kc_free(k);
    free(k);
    weir_kube_config_free(out);
    pthread_mutex_init(&out->token_lock, NULL);
    return rc < 0 ? rc : WEIR_KUBE_ERR_CONFIG;
}

/* ---- in-cluster ------------------------------------------------------------- */

int weir_kube_config_load_in_cluster(const struct weir_kube_in_cluster_paths *paths,
                                     struct weir_kube_config *out, struct weir_kube_error *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *token_file = paths && paths->token_file ? paths->token_file : SA_DIR "/token";
    const char *ca_file = paths && paths->ca_file ? paths->ca_file : SA_DIR "/ca.crt";
    const char *ns_file =
        paths && paths->namespace_file ? paths->namespace_file : SA_DIR "/namespace";
    char *token = NULL, *ns = NULL;
    int rc;

    weir_kube_error_clear(err);
    config_init(out);
    if (!host || !*host || !port || !*port)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_CONFIG, NULL,
                                   "in-cluster: KUBERNETES_SERVICE_HOST and "
                                   "KUBERNETES_SERVICE_PORT must be set (not running in a pod?)");
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return weir_kube_error_set(err, WEIR_KUBE_ERR_CONFIG, NULL,
                                       "in-cluster: KUBERNETES_SERVICE_PORT=%s is not a port",
                                       port);
    token = read_file(token_file, TOKEN_FILE_MAX, NULL);
    if (!token)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_CONFIG, NULL,
                                   "in-cluster: cannot read the service-account token %s: %s",
                                   token_file, strerror(errno));
    trim_right(token);
    if (!*token) {
        free(token);
        return weir_kube_error_set(err, WEIR_KUBE_ERR_CONFIG, NULL,
                                   "in-cluster: the service-account token %s is empty", token_file);
    }
    free(token);
    if (access(ca_file, R_OK) != 0)
        return weir_kube_error_set(err, WEIR_KUBE_ERR_CONFIG, NULL,
                                   "in-cluster: cannot read the cluster CA %s: %s", ca_file,
                                   strerror(errno));
    ns = read_file(ns_file, 4096, NULL);
    if (ns)
        trim_right(ns);

    size_t n = strlen(host) + strlen(port) + 16;
    out->server = malloc(n);
    if (out->server) {
        /* An IPv6 service address needs brackets in a URL. */
        if (strchr(host, ':'))
            snprintf(out->server, n, "https://[%s]:%s", host, port);
        else
            snprintf(out->server, n, "https://%s:%s", host, port);
    }
    out->token_file = strdup(token_file);
    out->ca.file = strdup(ca_file);
    out->namespace = strdup(ns && *ns ? ns : "default");
    out->source = strdup("in-cluster");
    free(ns);
    if (!out->server || !out->token_file || !out->ca.file || !out->namespace || !out->source) {
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        weir_kube_config_free(out);
        pthread_mutex_init(&out->token_lock, NULL);
        return rc;
    }
    return 0;
}

int weir_kube_config_load_default(const char *kubeconfig, struct weir_kube_config *out,
                                  struct weir_kube_error *err)
{
    const char *env = getenv("KUBECONFIG");
    const char *host = getenv("KUBERNETES_SERVICE_HOST");

    if ((!kubeconfig || !*kubeconfig) && (!env || !*env) && host && *host)
        return weir_kube_config_load_in_cluster(NULL, out, err);
    return weir_kube_config_load_kubeconfig(kubeconfig, NULL, out, err);
}

/* ---- tokens ----------------------------------------------------------------- */

static bool same_file(const struct weir_kube_config *c, const struct stat *st)
{
    return c->token_cached && c->token_dev == st->st_dev && c->token_ino == st->st_ino &&
           c->token_size == st->st_size && c->token_mtime.tv_sec == st->st_mtim.tv_sec &&
           c->token_mtime.tv_nsec == st->st_mtim.tv_nsec;
}

int weir_kube_config_token(struct weir_kube_config *c, char **out, struct weir_kube_error *err)
{
    struct stat st;
    int rc = 0;

    *out = NULL;
    if (!c->token_file) {
        if (c->token && !(*out = strdup(c->token)))
            return weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
        return 0;
    }
    pthread_mutex_lock(&c->token_lock);
    if (stat(c->token_file, &st) != 0) {
        /* Mid-rotation the file can be briefly missing: keep the last good token. */
        if (!c->token_cached)
            rc = weir_kube_error_set(err, WEIR_KUBE_ERR_CONFIG, NULL,
                                     "cannot read the token file %s: %s", c->token_file,
                                     strerror(errno));
    } else if (!same_file(c, &st)) {
        char *t = read_file(c->token_file, TOKEN_FILE_MAX, NULL);
        if (t) {
            trim_right(t);
            free(c->token_cached);
            c->token_cached = t;
            c->token_dev = st.st_dev;
            c->token_ino = st.st_ino;
            c->token_size = st.st_size;
            c->token_mtime = st.st_mtim;
        } else if (!c->token_cached) {
            rc = weir_kube_error_set(err, WEIR_KUBE_ERR_CONFIG, NULL,
                                     "cannot read the token file %s: %s", c->token_file,
                                     strerror(errno));
        }
    }
    if (rc == 0 && c->token_cached && !(*out = strdup(c->token_cached)))
        rc = weir_kube_error_set(err, WEIR_KUBE_ERR_NOMEM, NULL, NULL);
    pthread_mutex_unlock(&c->token_lock);
    return rc;
}
