/*
 * Config file watching. Kubernetes updates a mounted ConfigMap by writing a new
 * timestamped directory and renaming the "..data" symlink over the old one; the
 * file the proxy reads ("proxy-config.json" -> "..data/proxy-config.json") never
 * changes itself. So the watch is on the file's directory (inotify), and any event
 * there, debounced, means "look again". A slow stat() poll backs it up for the cases
 * inotify misses (the directory itself replaced, an overflowed event queue).
 */
#ifndef WP_CORE_WATCH_H
#define WP_CORE_WATCH_H

struct event_base;
struct wp_watch;

struct wp_watch *wp_watch_start(struct event_base *base, const char *path,
                                void (*changed)(void *arg), void *arg);
void wp_watch_free(struct wp_watch *w);

#endif
