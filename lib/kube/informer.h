/*
 * Informers: a local, always-current copy of one kind of object, fed by list
 * then watch, and callbacks for each change (client-go's shared informer, for
 * one consumer).
 *
 * The loop, in a thread of its own:
 *
 *   LIST (paginated) -> replace the cache, deliver add/update/delete
 *     -> has_synced = true
 *   WATCH from the list's resourceVersion -> apply each event
 *     server ends the stream (timeoutSeconds)  -> watch again from the last
 *                                                  resourceVersion seen
 *     410 Gone (that version was compacted)     -> LIST again
 *     connection lost / error                   -> back off (exponential,
 *                                                  capped, jittered), then
 *                                                  watch again from the last
 *                                                  resourceVersion seen
 *
 * BOOKMARK events move the last resourceVersion forward without a change, so
 * a quiet watch resumes from a recent version instead of one that may have
 * been compacted. Resuming from the last version seen is what guarantees no
 * event is missed across reconnects; the relist after 410 is what guarantees
 * the cache converges anyway, delivering deletes for objects that vanished
 * in between.
 *
 * Handlers run on the informer's thread, after the cache holds the change,
 * one at a time; they must not block for long (hand work to a queue). The
 * objects passed are borrowed for the call: incref to keep one. Objects in
 * the cache are immutable: never modify one, copy it (json_deep_copy).
 *
 *   on_update gets the old and the new object. After a relist it is called
 *   only for objects whose resourceVersion changed; a resync calls it for
 *   every cached object with old == new, so a consumer can re-check state
 *   that drifted outside the cluster.
 *   on_delete gets the object's final state from the DELETED event, or, when
 *   a relist finds an object gone, the last state the cache held.
 *
 * Reads (get, snapshot) are thread-safe (a rwlock) and may be called from
 * handlers. A snapshot is a consistent copy: every object at one instant,
 * sorted by key, each with its own reference; the operator's translation
 * runs on it while the informer carries on.
 *
 * The list and watch calls go through a small table of two functions; the
 * client's is the default, tests drive the loop with canned ones.
 *
 * Return convention: 0 or a negative WEIR_KUBE_ERR_* (kube/error.h).
 */
#ifndef WEIR_KUBE_INFORMER_H
#define WEIR_KUBE_INFORMER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "kube/backoff.h"
#include "kube/cache.h"
#include "kube/client.h"
#include "kube/watch.h"

struct weir_kube_informer_handlers {
    void (*on_add)(void *arg, const json_t *obj);
    void (*on_update)(void *arg, const json_t *old_obj, const json_t *new_obj);
    void (*on_delete)(void *arg, const json_t *obj);
    void *arg;
};

/* Where the informer gets its objects from. list fills *items (a new JSON
 * array) and *resource_version (malloc'd); watch behaves as weir_kube_watch
 * (kube/watch.h) from resource_version. cancel turns true when the informer
 * stops. */
struct weir_kube_list_watch {
    int (*list)(void *arg, const atomic_bool *cancel, json_t **items, char **resource_version,
                struct weir_kube_error *err);
    int (*watch)(void *arg, const char *resource_version, int timeout_seconds,
                 weir_kube_watch_fn fn, weir_kube_idle_fn idle, void *fn_arg,
                 struct weir_kube_error *err);
    void *arg;
};

struct weir_kube_informer_options {
    const struct weir_kube_resource *resource; /* must outlive the informer */
    const char *namespace;                     /* NULL or "": all namespaces */
    const char *label_selector;
    const char *field_selector;
    long page_size;         /* list page size; 0: 500 */
    int watch_timeout;      /* seconds per watch; 0: random in [300, 600) as client-go */
    double resync_period;   /* seconds; 0: never */
    double backoff_initial; /* 0: 0.8 s */
    double backoff_max;     /* 0: 30 s */
    const char *name;       /* for logs; NULL: the resource name */
    /* Drop metadata.managedFields and the kubectl last-applied annotation
     * from every object before it is cached: often half of an object's
     * size, and nothing a controller reads (client-go's informers offer the
     * same transform). */
    bool strip_managed_fields;
    /* Called on every object before it is cached (after the stripping
     * above), to drop what the consumer never reads; may be NULL. It must
     * keep metadata.name, namespace and resourceVersion. */
    void (*transform)(json_t *obj);
};

struct weir_kube_informer_stats {
    unsigned lists;   /* successful lists, the first included */
    unsigned watches; /* watch requests started */
    unsigned gone;    /* 410 answers that forced a relist */
    unsigned errors;  /* failed lists and watches */
    unsigned resyncs;
    unsigned events; /* watch events applied (bookmarks included) */
};

struct weir_kube_informer;

/* Lists and watches through the client (which must outlive the informer). */
int weir_kube_informer_new(struct weir_kube_client *client,
                           const struct weir_kube_informer_options *opts,
                           const struct weir_kube_informer_handlers *handlers,
                           struct weir_kube_informer **out, struct weir_kube_error *err);

/* Lists and watches through lw (tests, or a caller's own source). */
int weir_kube_informer_new_lw(const struct weir_kube_list_watch *lw,
                              const struct weir_kube_informer_options *opts,
                              const struct weir_kube_informer_handlers *handlers,
                              struct weir_kube_informer **out, struct weir_kube_error *err);

/* Starts the thread. */
int weir_kube_informer_start(struct weir_kube_informer *inf, struct weir_kube_error *err);

/* Stops the thread and waits for it: an open watch or list is cut within
 * about a second, a backoff sleep at once. Safe to call twice or before start. */
void weir_kube_informer_stop(struct weir_kube_informer *inf);

/* Stops if needed and frees everything. */
void weir_kube_informer_free(struct weir_kube_informer *inf);

/* True once the first list has been applied (and stays true). */
bool weir_kube_informer_has_synced(struct weir_kube_informer *inf);

/* Waits up to timeout seconds for has_synced; returns whether it is. */
bool weir_kube_informer_wait_synced(struct weir_kube_informer *inf, double timeout);

/* A cached object by namespace and name (ns NULL for cluster-scoped), with a
 * new reference, or NULL. */
json_t *weir_kube_informer_get(struct weir_kube_informer *inf, const char *ns, const char *name);

size_t weir_kube_informer_len(struct weir_kube_informer *inf);

struct weir_kube_snapshot {
    json_t **items; /* sorted by "namespace/name", each a new reference */
    size_t len;
    char *resource_version; /* the last one applied when the snapshot was taken */
};

int weir_kube_informer_snapshot(struct weir_kube_informer *inf, struct weir_kube_snapshot *out);
/* A snapshot of the objects whose "namespace/name" key keep() accepts. */
int weir_kube_informer_snapshot_where(struct weir_kube_informer *inf, weir_kube_key_filter keep,
                                      void *arg, struct weir_kube_snapshot *out);
void weir_kube_snapshot_free(struct weir_kube_snapshot *s);

/* The last resourceVersion applied (copy into buf; "" before the first list). */
const char *weir_kube_informer_resource_version(struct weir_kube_informer *inf, char *buf,
                                                size_t len);

void weir_kube_informer_get_stats(struct weir_kube_informer *inf,
                                  struct weir_kube_informer_stats *out);

#endif
