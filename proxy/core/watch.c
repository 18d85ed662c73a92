#include "core/watch.h"

#include <errno.h>
#include <event2/event.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define DEBOUNCE_MS 100
#define POLL_MS     2000

struct wp_watch {
    char *path;
    int fd;
    struct event *ev, *debounce, *poll;
    void (*changed)(void *);
    void *arg;
    struct stat last;
    bool have_last;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void remember(struct wp_watch *w)
{
    w->have_last = stat(w->path, &w->last) == 0;
}

static void fire(struct wp_watch *w)
{
    remember(w);
    w->changed(w->arg);
}

static void debounce_cb(evutil_socket_t fd, short what, void *arg)
{
    fire(arg);
}

static void inotify_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_watch *w = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        any = true;
    }
    if (any) {
        /* a ConfigMap swap is several events in a row: act once they settle */
        struct timeval tv = {0, DEBOUNCE_MS * 1000};
        event_add(w->debounce, &tv);
    }
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wp_watch *w = arg;
    struct stat st;
    bool have = stat(w->path, &st) == 0;
    if (have != w->have_last || (have && !same_file(&st, &w->last)))
        fire(w);
}

struct wp_watch *wp_watch_start(struct event_base *base, const char *path,
                                void (*changed)(void *arg), void *arg)
{
    struct wp_watch *w = calloc(1, sizeof(*w));
    char *copy;
    struct timeval tv = {POLL_MS / 1000, (POLL_MS % 1000) * 1000};

    if (!w)
        return NULL;
    w->fd = -1;
    w->changed = changed;
    w->arg = arg;
    w->path = strdup(path);
    copy = strdup(path);
    if (!w->path || !copy)
        goto fail;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd >= 0 &&
        inotify_add_watch(w->fd, dirname(copy),
                          IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_DELETE |
                              IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
        weir_log(WEIR_LOG_WARN, "cannot watch the config directory; polling only", "path", path,
                 "error", strerror(errno), NULL);
        close(w->fd);
        w->fd = -1;
    }
    free(copy);
    copy = NULL;
    w->debounce = evtimer_new(base, debounce_cb, w);
    w->poll = event_new(base, -1, EV_PERSIST, poll_cb, w);
    if (!w->debounce || !w->poll)
        goto fail;
    if (w->fd >= 0) {
        w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, inotify_cb, w);
        if (!w->ev || event_add(w->ev, NULL) < 0)
            goto fail;
    }
    event_add(w->poll, &tv);
    remember(w);
    return w;
fail:
    free(copy);
    wp_watch_free(w);
    return NULL;
}

void wp_watch_free(struct wp_watch *w)
{
    if (!w)
        return;
    if (w->ev)
        event_free(w->ev);
    if (w->debounce)
        event_free(w->debounce);
    if (w->poll)
        event_free(w->poll);
    if (w->fd >= 0)
        close(w->fd);
    free(w->path);
    free(w);
}
