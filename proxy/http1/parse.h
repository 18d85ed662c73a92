/*
 * HTTP/1.x message parsing around http-parser, with the checks a proxy needs on top
 * of it. A proxy that reads a message differently from the server behind it can be
 * used to smuggle a second request past routing and policy, so a message is refused
 * when it is ambiguous, not repaired:
 *
 *   - Content-Length together with Transfer-Encoding, Content-Length twice (even
 *     with equal values), Transfer-Encoding twice or with a coding other than
 *     "chunked", bad chunk sizes (http-parser);
 *   - obs-fold (a header line starting with a space or tab), a bare LF or a bare CR
 *     in the header block, control characters in a header value;
 *   - two Host headers, none in HTTP/1.1, a request target that is neither
 *     origin-form, absolute-form nor "*" for OPTIONS, a version other than 1.x;
 *   - an Upgrade offering h2c among other protocols. h2c alone is not an upgrade:
 *     the request is read as plain HTTP/1.1 (its Upgrade is hop-by-hop), so that
 *     no upstream can switch the connection to HTTP/2 past the proxy.
 *
 * The header block is scanned once for line structure before http-parser sees it,
 * which is also where its size is bounded (431 / 502 past limits.maxHeaderBytes).
 * Trailers of chunked messages are kept in `trailers` with the same checks on
 * names and values; their bytes and fields count toward the same limits as the
 * head's (one budget for head and trailers together).
 *
 * The parser pauses at the end of every message, so that a pipelined next request
 * stays in the connection's buffer until the owner is ready for it.
 *
 * This module does no I/O and is the target of fuzz/fuzz_http1_request.c.
 */
#ifndef WP_HTTP1_PARSE_H
#define WP_HTTP1_PARSE_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "http/message.h"

enum wp_h1_kind {
    WP_H1_REQUEST,
    WP_H1_RESPONSE,
};

struct wp_h1_limits {
    size_t max_header_bytes;
    size_t max_headers;
};

/* Callbacks return 0 to go on and -1 to stop parsing (the owner then sets its own
 * error). on_head may return 1 for a response that has no body whatever its
 * headers say (the answer to HEAD). */
struct wp_h1_callbacks {
    int (*on_head)(void *owner);
    int (*on_body)(void *owner, const char *data, size_t len);
    int (*on_complete)(void *owner);
};

enum wp_h1_scan {
    WP_H1_SCAN_LINE_START, /* at the beginning of a line */
    WP_H1_SCAN_IN_LINE,
    WP_H1_SCAN_CR, /* after a CR, an LF must follow */
};

struct wp_h1_parser {
    http_parser hp;
    http_parser_settings settings;
    enum wp_h1_kind kind;
    struct wp_h1_limits limits;
    const struct wp_h1_callbacks *cb;
    void *owner;

    /* header block scanner */
    bool in_head;
    enum wp_h1_scan scan;
    size_t line_len;
    size_t lines;
    size_t head_bytes;

    /* field being accumulated; bounded by max_header_bytes through the scanner */
    char *field, *value, *url; /* NULL, the small buffers below, or the heap */
    size_t field_len, value_len, url_len;
    size_t field_cap, value_cap, url_cap;
    char field_small[64], value_small[256], url_small[256];
    bool have_value;
    bool in_trailers;
    size_t n_headers;
    unsigned n_host, n_content_length, n_transfer_encoding;

    /* the message being parsed; taken by the owner in on_head */
    struct wp_request_head req;
    struct wp_response_head resp;
    struct wp_headers trailers; /* of a chunked message, once message_done */
    bool head_method;           /* response parser: the request was HEAD */

    bool message_done;
    int error_status;  /* 400, 431, 501, 505... for requests; 502 for responses */
    const char *error; /* why, for logs */
};

void wp_h1_parser_init(struct wp_h1_parser *p, enum wp_h1_kind kind,
                       const struct wp_h1_limits *limits, const struct wp_h1_callbacks *cb,
                       void *owner);
void wp_h1_parser_free(struct wp_h1_parser *p);

/* Feeds bytes. Returns how many were consumed: fewer than len when the parser
 * paused at the end of a message or switched protocols (upgrade), or -1 on an
 * error (error_status and error set). */
ssize_t wp_h1_parser_feed(struct wp_h1_parser *p, const char *data, size_t len);
/* After a message completed: ready for the next one on the same connection. */
void wp_h1_parser_next(struct wp_h1_parser *p);
/* The peer closed: completes a close-delimited response body. Returns 0 when the
 * message is complete (or none had started), -1 when it was cut short. */
int wp_h1_parser_eof(struct wp_h1_parser *p);
/* True after a message that switches protocols (101, or a request with Upgrade). */
bool wp_h1_parser_upgraded(const struct wp_h1_parser *p);
/* True while no byte of a message has been seen since the last one completed. */
bool wp_h1_parser_idle(const struct wp_h1_parser *p);

/* Writes a head in HTTP/1.1 wire form into buf (a libevent evbuffer or any sink):
 * the callbacks keep this module free of I/O. */
typedef int (*wp_h1_write_fn)(void *sink, const char *data, size_t len);
int wp_h1_write_request_head(const struct wp_request_head *r, wp_h1_write_fn w, void *sink);
int wp_h1_write_response_head(const struct wp_response_head *r, wp_h1_write_fn w, void *sink);
/* The end of a chunked body: the last chunk, the trailer fields, the final CRLF. */
int wp_h1_write_last_chunk(const struct wp_headers *trailers, wp_h1_write_fn w, void *sink);

#endif
