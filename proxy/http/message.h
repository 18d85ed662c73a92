/*
 * The protocol-independent view of an HTTP message head, shared by the HTTP/1.1
 * and HTTP/2 codecs: a request is a method, a path, an
 * authority and a scheme (HTTP/2's pseudo-headers) plus a list of header fields
 * with lower-case names. Framing (content-length, chunked, keep-alive) is kept
 * beside the fields, never inside them, so each codec writes its own framing.
 *
 * Return convention: int functions return 0 on success and -1 when memory ran out.
 */
#ifndef WP_HTTP_MESSAGE_H
#define WP_HTTP_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wp_header {
    char *name; /* lower-case; name and value sit in the list's blocks */
    char *value;
    uint32_t name_len;
    uint32_t value_len;
};

struct wp_header_block; /* message.c: the bytes of the fields, freed with the list */

struct wp_headers {
    struct wp_header *items;
    size_t len, cap;
    struct wp_header_block *blocks;
};

void wp_headers_init(struct wp_headers *h);
void wp_headers_free(struct wp_headers *h);
/* Frees the blocks this thread keeps for the next lists; before the thread ends. */
void wp_headers_cache_free(void);
/* Appends a field; the name is lower-cased in the copy. */
int wp_headers_add(struct wp_headers *h, const char *name, size_t name_len, const char *value,
                   size_t value_len);
int wp_headers_add_str(struct wp_headers *h, const char *name, const char *value);
/* Removes every field of that (lower-case) name; returns how many were removed. */
size_t wp_headers_remove(struct wp_headers *h, const char *name, size_t name_len);
/* Replaces every value of the header by one. */
int wp_headers_set(struct wp_headers *h, const char *name, const char *value, size_t value_len);
const struct wp_header *wp_headers_get(const struct wp_headers *h, const char *name,
                                       size_t name_len);
/* The next field of that name after `prev` (NULL: the first). */
const struct wp_header *wp_headers_next(const struct wp_headers *h, const char *name,
                                        size_t name_len, const struct wp_header *prev);
size_t wp_headers_count(const struct wp_headers *h, const char *name, size_t name_len);
int wp_headers_copy(struct wp_headers *dst, const struct wp_headers *src);

struct wp_request_head {
    char *method;
    char *path;      /* origin-form: "/p?q"; "*" for OPTIONS * */
    char *authority; /* Host, or the authority of an absolute-form target */
    char *scheme;    /* "http" or "https" */
    uint8_t version_major, version_minor;
    struct wp_headers headers; /* without host: that is `authority` */
    int64_t content_length;    /* -1: none */
    bool chunked;
    bool keep_alive;
    bool upgrade; /* Connection: upgrade with an Upgrade header (WebSocket) */
    bool expect_continue;
};

struct wp_response_head {
    int status;
    char *reason; /* NULL: the standard phrase */
    uint8_t version_major, version_minor;
    struct wp_headers headers;
    int64_t content_length; /* -1: none */
    bool chunked;
    bool keep_alive;
    bool no_body; /* 1xx, 204, 304, or an answer to HEAD */
};

void wp_request_head_init(struct wp_request_head *r);
void wp_request_head_free(struct wp_request_head *r);
void wp_response_head_init(struct wp_response_head *r);
void wp_response_head_free(struct wp_response_head *r);

/* Replaces *dst by a copy of the bytes; -1 on allocation failure (dst unchanged). */
int wp_str_replace(char **dst, const char *s, size_t len);
const char *wp_status_reason(int status);

/* ASCII case-insensitive comparison of len bytes. */
bool wp_ascii_caseeq(const char *a, const char *b, size_t len);
/* True when the comma-separated list in value contains token (case-insensitive). */
bool wp_token_list_contains(const char *value, size_t len, const char *token);

#endif
