/*
 * Arming a libevent timer from a millisecond count, the unit the proxy
 * config uses for every duration.
 */
#ifndef WP_CORE_TIMER_H
#define WP_CORE_TIMER_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/time.h>

/* Returns event_add's result: 0, or -1 when libevent refused. */
static inline int wp_timer_arm_ms(struct event *ev, int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
                         .tv_usec = (suseconds_t)((ms % 1000) * 1000)};
    return event_add(ev, &tv);
}

#endif
