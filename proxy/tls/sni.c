#include "tls/sni.h"

#include <string.h>

#define REC_HANDSHAKE   22
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0
#define NAME_HOST       0

struct rd {
    const uint8_t *p;
    size_t n;
};

static int take(struct rd *r, size_t k, const uint8_t **out)
{
    if (r->n < k)
        return -1;
    if (out)
        *out = r->p;
    r->p += k;
    r->n -= k;
    return 0;
}

static int u8(struct rd *r, size_t *v)
{
    const uint8_t *b;
    if (take(r, 1, &b) < 0)
        return -1;
    *v = b[0];
    return 0;
}

static int u16(struct rd *r, size_t *v)
{
    const uint8_t *b;
    if (take(r, 2, &b) < 0)
        return -1;
    *v = (size_t)b[0] << 8 | b[1];
    return 0;
}

/* A sub-reader of the next len bytes (a length-prefixed vector). */
static int sub(struct rd *r, size_t len, struct rd *s)
{
    const uint8_t *b;
    if (take(r, len, &b) < 0)
        return -1;
    s->p = b;
    s->n = len;
    return 0;
}

static enum wp_sni_result server_name(struct rd *ext, char *name)
{
    struct rd list, host;
    size_t len, type;
    if (u16(ext, &len) < 0 || sub(ext, len, &list) < 0)
        return WP_SNI_INVALID;
    while (list.n) {
        if (u8(&list, &type) < 0 || u16(&list, &len) < 0 || sub(&list, len, &host) < 0)
            return WP_SNI_INVALID;
        if (type != NAME_HOST)
            continue;
        if (len == 0 || len > WP_SNI_NAME_MAX)
            return WP_SNI_INVALID;
        for (size_t i = 0; i < len; i++) {
            uint8_t c = host.p[i];
            if (c <= 0x20 || c >= 0x7f)
                return WP_SNI_INVALID;
            name[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
        name[len] = '\0';
        return WP_SNI_FOUND;
    }
    return WP_SNI_ABSENT;
}

/* The ClientHello body (after the handshake header). */
static enum wp_sni_result hello(struct rd *r, char *name)
{
    struct rd exts, ext;
    size_t len, type;
    if (take(r, 2 + 32, NULL) < 0 || u8(r, &len) < 0 || take(r, len, NULL) < 0 || /* session */
        u16(r, &len) < 0 || take(r, len, NULL) < 0 ||                             /* suites */
        u8(r, &len) < 0 || take(r, len, NULL) < 0)                                /* compress */
        return WP_SNI_INVALID;
    if (r->n == 0)
        return WP_SNI_ABSENT; /* no extensions at all */
    if (u16(r, &len) < 0 || sub(r, len, &exts) < 0)
        return WP_SNI_INVALID;
    while (exts.n) {
        if (u16(&exts, &type) < 0 || u16(&exts, &len) < 0 || sub(&exts, len, &ext) < 0)
            return WP_SNI_INVALID;
        if (type == EXT_SERVER_NAME)
            return server_name(&ext, name);
    }
    return WP_SNI_ABSENT;
}

enum wp_sni_result wp_sni_parse(const uint8_t *p, size_t n, char *name)
{
    uint8_t msg[4 + WP_SNI_HELLO_MAX];
    size_t have = 0, want = 0; /* handshake bytes gathered, and the message's total */
    struct rd r = {p, n}, body;

    name[0] = '\0';
    while (!want || have < want) {
        const uint8_t *h, *payload;
        size_t len, k;
        if (r.n < 5) {
            /* judge the first bytes early, so that plain text is not held waiting */
            if (r.n >= 1 && r.p[0] != REC_HANDSHAKE)
                return WP_SNI_INVALID;
            if (r.n >= 2 && r.p[1] != 3)
                return WP_SNI_INVALID;
            return WP_SNI_MORE;
        }
        take(&r, 5, &h);
        len = (size_t)h[3] << 8 | h[4];
        if (h[0] != REC_HANDSHAKE || h[1] != 3 || len == 0 || len > 16384)
            return WP_SNI_INVALID;
        k = len < r.n ? len : r.n;
        take(&r, k, &payload);
        if (have + k > sizeof(msg))
            k = sizeof(msg) - have; /* past the bound: the length check below refuses */
        memcpy(msg + have, payload, k);
        have += k;
        if (!want && have >= 4) {
            if (msg[0] != HS_CLIENT_HELLO)
                return WP_SNI_INVALID;
            want = 4 + ((size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3]);
            if (want > sizeof(msg))
                return WP_SNI_INVALID;
        }
        if (len > k && have < sizeof(msg) && (!want || have < want))
            return WP_SNI_MORE; /* the record is not all there yet */
        if (want && have >= want)
            break;
        if (have >= sizeof(msg))
            return WP_SNI_INVALID;
    }
    body.p = msg + 4;
    body.n = want - 4;
    return hello(&body, name);
}
