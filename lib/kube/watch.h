/*
 * Watches: GET ...?watch=1&resourceVersion=X&allowWatchBookmarks=true&
 * timeoutSeconds=N, read as it streams.
 *
 * The API server answers with one JSON object per line ({"type":"ADDED",
 * "object":{...}}), chunked, for as long as the watch lasts. Bytes arrive in
 * whatever pieces the network makes, so a line splitter (weir_kube_lines)
 * collects them into lines: a line may span many chunks and a chunk may hold
 * many lines. Every buffer has a limit: one event larger than
 * max_event_bytes (16 MiB by default) ends the watch with
 * WEIR_KUBE_ERR_TOO_LARGE instead of growing the buffer without end.
 *
 * An ERROR event ends the watch: with code 410 (the resourceVersion was
 * compacted away) as WEIR_KUBE_ERR_GONE, which tells an informer to relist;
 * otherwise as WEIR_KUBE_ERR_HTTP with the Status's code, reason and message.
 *
 * Return convention: 0 or a negative WEIR_KUBE_ERR_* (kube/error.h), or the
 * non-zero value a callback returned to stop.
 */
#ifndef WEIR_KUBE_WATCH_H
#define WEIR_KUBE_WATCH_H

#include <jansson.h>
#include <stddef.h>

#include "kube/client.h"

#define WEIR_KUBE_DEFAULT_MAX_EVENT (16u << 20)

/* ---- line splitter --------------------------------------------------------------- */

struct weir_kube_lines {
    char *buf; /* the unfinished line carried between feeds */
    size_t len;
    size_t cap;
    size_t max; /* longest line accepted, newline excluded */
};

/* Called for each complete line, without its "\n" (or "\r\n"); the line is
 * not NUL-terminated. Empty lines are skipped. Returns 0 to go on, anything
 * else stops the feed and is returned by it. */
typedef int (*weir_kube_line_fn)(void *arg, const char *line, size_t len);

void weir_kube_lines_init(struct weir_kube_lines *l, size_t max);
/* Splits data; complete lines are passed straight from data when no partial
 * line is pending, so the common case copies nothing. */
int weir_kube_lines_feed(struct weir_kube_lines *l, const char *data, size_t len,
                         weir_kube_line_fn fn, void *arg);
/* At the end of the stream: a last line without a newline is delivered. */
int weir_kube_lines_finish(struct weir_kube_lines *l, weir_kube_line_fn fn, void *arg);
void weir_kube_lines_free(struct weir_kube_lines *l);

/* ---- events ---------------------------------------------------------------------- */

enum weir_kube_watch_type {
    WEIR_KUBE_WATCH_ADDED,
    WEIR_KUBE_WATCH_MODIFIED,
    WEIR_KUBE_WATCH_DELETED,
    WEIR_KUBE_WATCH_BOOKMARK, /* only metadata.resourceVersion is meaningful */
    WEIR_KUBE_WATCH_ERROR,    /* object is a Status */
};

struct weir_kube_watch_event {
    enum weir_kube_watch_type type;
    json_t *object;               /* owned by the event */
    const char *resource_version; /* the object's metadata.resourceVersion, or NULL */
};

const char *weir_kube_watch_type_name(enum weir_kube_watch_type t);

/* Decodes one line. On success the caller frees with
 * weir_kube_watch_event_free. */
int weir_kube_watch_event_parse(const char *line, size_t len, struct weir_kube_watch_event *ev,
                                struct weir_kube_error *err);
void weir_kube_watch_event_free(struct weir_kube_watch_event *ev);

/* Turns an ERROR event's Status into the error it stands for (GONE for 410)
 * and returns the code. */
int weir_kube_watch_event_error(const struct weir_kube_watch_event *ev, const char *what,
                                struct weir_kube_error *err);

/* ---- the watch ------------------------------------------------------------------- */

/* The event is borrowed for the call; incref what you keep. Return 0 to go
 * on; anything else ends the watch and weir_kube_watch returns it. */
typedef int (*weir_kube_watch_fn)(void *arg, const struct weir_kube_watch_event *ev);

struct weir_kube_watch_options {
    const char *resource_version; /* start after this; NULL: now, with ADDED for what exists */
    const char *label_selector;
    const char *field_selector;
    int timeout_seconds;    /* the server ends the watch after this; 0: 300 */
    bool allow_bookmarks;   /* ask for BOOKMARK events */
    size_t max_event_bytes; /* 0: 16 MiB */
    /* Called about once a second while the stream is open, with the event
     * callback's arg; non-zero ends the watch and is returned. May be NULL. */
    weir_kube_idle_fn idle;
};

/* Blocks until the server ends the stream (returns 0: resume from the last
 * resourceVersion seen), a callback stops it, or an error. A stalled
 * connection is cut timeout_seconds + 30 s after the start. */
int weir_kube_watch(struct weir_kube_client *c, const struct weir_kube_resource *res,
                    const char *ns, const struct weir_kube_watch_options *opts,
                    weir_kube_watch_fn fn, void *arg, struct weir_kube_error *err);

#endif
