#include "core/identity.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_label(struct wp_identity *id, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct weir_kv *n = realloc(id->labels.items, (id->labels.len + 1) * sizeof(*n));
    if (!n)
        return -1;
    id->labels.items = n;
    n[id->labels.len].key = strndup(k, klen);
    n[id->labels.len].value = strndup(v, vlen);
    if (!n[id->labels.len].key || !n[id->labels.len].value) {
        free(n[id->labels.len].key);
        free(n[id->labels.len].value);
        return -1;
    }
    id->labels.len++;
    return 0;
}

int wp_identity_parse_labels(struct wp_identity *id, const char *text, const char **err)
{
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ','), *eq;
        if (!end)
            end = p + strlen(p);
        eq = memchr(p, '=', (size_t)(end - p));
        if (end > p) {
            if (!eq || eq == p) {
                *err = "a label must be written key=value";
                return -1;
            }
            if (add_label(id, p, (size_t)(eq - p), eq + 1, (size_t)(end - eq - 1)) < 0) {
                *err = "out of memory";
                return -1;
            }
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Undoes Go's strconv.Quote, which the kubelet writes values with, in place:
 * the text between the quotes in s[0..len). The result is never longer.
 * Returns its length, or -1 for a malformed escape. */
static long go_unquote(char *s, size_t len)
{
    size_t i = 0, o = 0;
    while (i < len) {
        if (s[i] != '\\') {
            s[o++] = s[i++];
            continue;
        }
        if (++i >= len)
            return -1;
        char c = s[i++];
        int digits = 0;
        switch (c) {
        case 'a':
            s[o++] = '\a';
            continue;
        case 'b':
            s[o++] = '\b';
            continue;
        case 'f':
            s[o++] = '\f';
            continue;
        case 'n':
            s[o++] = '\n';
            continue;
        case 'r':
            s[o++] = '\r';
            continue;
        case 't':
            s[o++] = '\t';
            continue;
        case 'v':
            s[o++] = '\v';
            continue;
        case '\\':
        case '"':
        case '\'':
            s[o++] = c;
            continue;
        case 'x':
            digits = 2;
            break;
        case 'u':
            digits = 4;
            break;
        case 'U':
            digits = 8;
            break;
        default:
            if (c >= '0' && c <= '7' && i + 2 <= len && s[i] >= '0' && s[i] <= '7' &&
                s[i + 1] >= '0' && s[i + 1] <= '7') {
                int v = (c - '0') * 64 + (s[i] - '0') * 8 + (s[i + 1] - '0');
                if (v > 255)
                    return -1;
                s[o++] = (char)v;
                i += 2;
                continue;
            }
            return -1;
        }
        unsigned long cp = 0;
        if (i + (size_t)digits > len)
            return -1;
        for (int d = 0; d < digits; d++) {
            int h = hex_digit((unsigned char)s[i++]);
            if (h < 0)
                return -1;
            cp = cp * 16 + (unsigned long)h;
        }
        if (c == 'x')
            s[o++] = (char)cp; /* a raw byte */
        else if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return -1;
        else
            o += put_utf8(s + o, cp); /* \uXXXX is 6 bytes, at most 3 out; \U 10, 4 */
    }
    return (long)o;
}

int wp_identity_read_labels_file(struct wp_identity *id, const char *path, const char **err)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    if (!f) {
        *err = "cannot open the labels file";
        return -1;
    }
    /* The kubelet writes one key="value" a line, keys sorted, the value quoted
     * by Go's strconv.Quote (\" \\ \n \xNN \uNNNN ...); no newline at the end. */
    while ((n = getline(&line, &cap, f)) >= 0) {
        char *eq, *v, *end = line + n;
        long vlen;
        while (end > line && (end[-1] == '\n' || end[-1] == '\r'))
            end--;
        *end = '\0';
        if (end == line)
            continue;
        eq = strchr(line, '=');
        if (!eq || eq == line)
            continue;
        v = eq + 1;
        if (end - v >= 2 && v[0] == '"' && end[-1] == '"') {
            vlen = go_unquote(v + 1, (size_t)(end - v - 2));
            if (vlen < 0) {
                *err = "a value has a malformed escape";
                rc = -1;
                break;
            }
            v++;
        } else {
            vlen = end - v; /* written by hand, unquoted */
        }
        if (add_label(id, line, (size_t)(eq - line), v, (size_t)vlen) < 0) {
            *err = "out of memory";
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

static int set_from_env(char **dst, const char *var)
{
    const char *v = getenv(var);
    if (*dst || !v || !*v)
        return 0;
    *dst = strdup(v);
    return *dst ? 0 : -1;
}

static bool all_alnum_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i])))
            return false;
    }
    return true;
}

int wp_identity_finish(struct wp_identity *id)
{
    if (set_from_env(&id->pod_name, "POD_NAME") < 0 || set_from_env(&id->ns, "POD_NAMESPACE") < 0 ||
        set_from_env(&id->service_account, "SERVICE_ACCOUNT") < 0 ||
        set_from_env(&id->workload_name, "WEIR_WORKLOAD_NAME") < 0)
        return -1;
    if (!id->labels.len) {
        const char *l = getenv("WEIR_POD_LABELS");
        const char *err;
        if (l && wp_identity_parse_labels(id, l, &err) < 0)
            return -1;
    }
    if (!id->workload_name && id->pod_name) {
        /* Deployment pods are named <deployment>-<pod-template-hash>-<5 chars>;
         * ReplicaSet-less owners (StatefulSet) keep their name up to the ordinal.
         * The label app.kubernetes.io/name or app is preferred when present. */
        const char *app = weir_string_map_get(&id->labels, "app.kubernetes.io/name");
        if (!app)
            app = weir_string_map_get(&id->labels, "app");
        if (app) {
            id->workload_name = strdup(app);
        } else {
            char *name = strdup(id->pod_name);
            if (!name)
                return -1;
            for (int k = 0; k < 2; k++) {
                char *dash = strrchr(name, '-');
                if (!dash || !all_alnum_lower(dash + 1, strlen(dash + 1)))
                    break;
                *dash = '\0';
            }
            id->workload_name = name;
        }
    }
    return 0;
}

void wp_identity_free(struct wp_identity *id)
{
    free(id->pod_name);
    free(id->workload_name);
    free(id->ns);
    free(id->service_account);
    weir_string_map_free(&id->labels);
    memset(id, 0, sizeof(*id));
}
