#include "http/message.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Field bytes come from blocks owned by the list, released together with it: a
 * malloc and a free per field were about 2,500 instructions per request under
 * callgrind. A removed field's bytes stay until then; what a request adds is
 * bounded by the header limits and the route's header operations. */
struct wp_header_block {
    struct wp_header_block *next;
    size_t used, cap;
    char data[];
};

#define WP_HEADER_BLOCK_BYTES 1024
#define WP_HEADER_ITEMS_FIRST 16

/* Each thread keeps released first-size blocks and item arrays for the next lists:
 * a request and its response each made a block and an item array, four mallocs and
 * four frees of 200 instructions each under callgrind (the pattern of a loop serving
 * many connections defeats malloc's own per-thread cache). No lock: per thread. */
#define WP_HEADER_CACHE_MAX 64

struct wp_header_spare {
    struct wp_header_spare *next;
};

static _Thread_local struct wp_header_spare *spare_blocks, *spare_items;
static _Thread_local unsigned n_spare_blocks, n_spare_items;

static void *spare_take(struct wp_header_spare **list, unsigned *n, size_t size)
{
    struct wp_header_spare *x = *list;
    if (!x)
        return malloc(size);
    *list = x->next;
    (*n)--;
    return x;
}

static void spare_give(struct wp_header_spare **list, unsigned *n, void *p)
{
    struct wp_header_spare *x = p;
    if (*n >= WP_HEADER_CACHE_MAX) {
        free(p);
        return;
    }
    x->next = *list;
    *list = x;
    (*n)++;
}

static void spare_clear(struct wp_header_spare **list, unsigned *n)
{
    while (*list) {
        struct wp_header_spare *x = *list;
        *list = x->next;
        free(x);
    }
    *n = 0;
}

void wp_headers_cache_free(void)
{
    spare_clear(&spare_blocks, &n_spare_blocks);
    spare_clear(&spare_items, &n_spare_items);
}

void wp_headers_init(struct wp_headers *h)
{
    h->items = NULL;
    h->len = h->cap = 0;
    h->blocks = NULL;
}

void wp_headers_free(struct wp_headers *h)
{
    struct wp_header_block *b = h->blocks;
    while (b) {
        struct wp_header_block *next = b->next;
        if (b->cap == WP_HEADER_BLOCK_BYTES - sizeof(*b))
            spare_give(&spare_blocks, &n_spare_blocks, b);
        else
            free(b);
        b = next;
    }
    if (h->items && h->cap == WP_HEADER_ITEMS_FIRST)
        spare_give(&spare_items, &n_spare_items, h->items);
    else
        free(h->items);
    wp_headers_init(h);
}

static char *block_alloc(struct wp_headers *h, size_t n)
{
    struct wp_header_block *b = h->blocks;
    if (!b || b->cap - b->used < n) {
        if (n > WP_HEADER_BLOCK_BYTES - sizeof(*b)) {
            if (!(b = malloc(sizeof(*b) + n)))
                return NULL;
            b->cap = n;
        } else {
            if (!(b = spare_take(&spare_blocks, &n_spare_blocks, WP_HEADER_BLOCK_BYTES)))
                return NULL;
            b->cap = WP_HEADER_BLOCK_BYTES - sizeof(*b);
        }
        b->used = 0;
        b->next = h->blocks;
        h->blocks = b;
    }
    b->used += n;
    return b->data + b->used - n;
}

/* ASCII lower case, eight bytes at a time: byte by byte it was 100 instructions per
 * field under callgrind. In each byte, the high bit of (b & 0x7f) + (0x80 - 'A') is
 * set from 'A' up and that of (b & 0x7f) + (0x80 - 'Z' - 1) from past 'Z'; their
 * difference, in a byte without its own high bit, marks the capitals, which gain
 * 0x20. Bytes from 0x80 up are left alone, as the byte loop leaves them. */
static void lower_copy(char *dst, const char *src, size_t len)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x, low, ge_a, gt_z;
        memcpy(&x, src + i, 8);
        low = x & ~highs;
        ge_a = low + ones * (0x80 - 'A');
        gt_z = low + ones * (0x80 - 'Z' - 1);
        x |= ((ge_a ^ gt_z) & ~x & highs) >> 2;
        memcpy(dst + i, &x, 8);
    }
    for (; i < len; i++) {
        char c = src[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
}

int wp_headers_add(struct wp_headers *h, const char *name, size_t name_len, const char *value,
                   size_t value_len)
{
    char *mem;
    if (name_len > UINT32_MAX || value_len > UINT32_MAX)
        return -1;
    if (h->len == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : WP_HEADER_ITEMS_FIRST;
        struct wp_header *n;
        if (!h->cap) {
            n = spare_take(&spare_items, &n_spare_items, ncap * sizeof(*n));
        } else if (h->cap == WP_HEADER_ITEMS_FIRST) {
            /* a spare array goes back to the cache, not to realloc() */
            if ((n = malloc(ncap * sizeof(*n)))) {
                memcpy(n, h->items, h->len * sizeof(*n));
                spare_give(&spare_items, &n_spare_items, h->items);
            }
        } else {
            n = realloc(h->items, ncap * sizeof(*n));
        }
        if (!n)
            return -1;
        h->items = n;
        h->cap = ncap;
    }
    mem = block_alloc(h, name_len + value_len + 2);
    if (!mem)
        return -1;
    lower_copy(mem, name, name_len);
    mem[name_len] = '\0';
    memcpy(mem + name_len + 1, value, value_len);
    mem[name_len + 1 + value_len] = '\0';
    h->items[h->len].name = mem;
    h->items[h->len].value = mem + name_len + 1;
    h->items[h->len].name_len = (uint32_t)name_len;
    h->items[h->len].value_len = (uint32_t)value_len;
    h->len++;
    return 0;
}

int wp_headers_add_str(struct wp_headers *h, const char *name, const char *value)
{
    return wp_headers_add(h, name, strlen(name), value, strlen(value));
}

static bool name_eq(const struct wp_header *f, const char *name, size_t name_len)
{
    return f->name_len == name_len && memcmp(f->name, name, name_len) == 0;
}

size_t wp_headers_remove(struct wp_headers *h, const char *name, size_t name_len)
{
    size_t j = 0, removed = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (name_eq(&h->items[i], name, name_len)) {
            removed++; /* its bytes go with the list's blocks */
        } else {
            h->items[j++] = h->items[i];
        }
    }
    h->len = j;
    return removed;
}

int wp_headers_set(struct wp_headers *h, const char *name, const char *value, size_t value_len)
{
    size_t name_len = strlen(name);
    wp_headers_remove(h, name, name_len);
    return wp_headers_add(h, name, name_len, value, value_len);
}

const struct wp_header *wp_headers_next(const struct wp_headers *h, const char *name,
                                        size_t name_len, const struct wp_header *prev)
{
    size_t i = prev ? (size_t)(prev - h->items) + 1 : 0;
    for (; i < h->len; i++) {
        if (name_eq(&h->items[i], name, name_len))
            return &h->items[i];
    }
    return NULL;
}

const struct wp_header *wp_headers_get(const struct wp_headers *h, const char *name,
                                       size_t name_len)
{
    return wp_headers_next(h, name, name_len, NULL);
}

size_t wp_headers_count(const struct wp_headers *h, const char *name, size_t name_len)
{
    size_t n = 0;
    for (size_t i = 0; i < h->len; i++)
        n += name_eq(&h->items[i], name, name_len);
    return n;
}

int wp_headers_copy(struct wp_headers *dst, const struct wp_headers *src)
{
    for (size_t i = 0; i < src->len; i++) {
        const struct wp_header *f = &src->items[i];
        if (wp_headers_add(dst, f->name, f->name_len, f->value, f->value_len) < 0)
            return -1;
    }
    return 0;
}

void wp_request_head_init(struct wp_request_head *r)
{
    memset(r, 0, sizeof(*r));
    wp_headers_init(&r->headers);
    r->content_length = -1;
}

void wp_request_head_free(struct wp_request_head *r)
{
    free(r->method);
    free(r->path);
    free(r->authority);
    free(r->scheme);
    wp_headers_free(&r->headers);
    wp_request_head_init(r);
}

void wp_response_head_init(struct wp_response_head *r)
{
    memset(r, 0, sizeof(*r));
    wp_headers_init(&r->headers);
    r->content_length = -1;
}

void wp_response_head_free(struct wp_response_head *r)
{
    free(r->reason);
    wp_headers_free(&r->headers);
    wp_response_head_init(r);
}

int wp_str_replace(char **dst, const char *s, size_t len)
{
    char *n = malloc(len + 1);
    if (!n)
        return -1;
    memcpy(n, s, len);
    n[len] = '\0';
    free(*dst);
    *dst = n;
    return 0;
}

bool wp_ascii_caseeq(const char *a, const char *b, size_t len)
{
    return strncasecmp(a, b, len) == 0;
}

bool wp_token_list_contains(const char *value, size_t len, const char *token)
{
    size_t tlen = strlen(token), i = 0;
    while (i < len) {
        size_t start, end;
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            i++;
        start = i;
        while (i < len && value[i] != ',')
            i++;
        end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            end--;
        if (end - start == tlen && strncasecmp(value + start, token, tlen) == 0)
            return true;
    }
    return false;
}

const char *wp_status_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        break;
    }
    if (status >= 100 && status < 200)
        return "Informational";
    if (status < 300)
        return "Success";
    if (status < 400)
        return "Redirection";
    if (status < 500)
        return "Client Error";
    return "Server Error";
}
