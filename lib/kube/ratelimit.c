#include "kube/ratelimit.h"

#include <errno.h>
#include <time.h>

double weir_kube_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void weir_kube_ratelimit_init(struct weir_kube_ratelimit *rl, double qps, int burst, double now)
{
    rl->qps = qps;
    rl->burst = burst < 1 ? 1 : burst;
    rl->tokens = rl->burst;
    rl->last = now;
    pthread_mutex_init(&rl->lock, NULL);
}

void weir_kube_ratelimit_destroy(struct weir_kube_ratelimit *rl)
{
    pthread_mutex_destroy(&rl->lock);
}

double weir_kube_ratelimit_reserve(struct weir_kube_ratelimit *rl, double now)
{
    double wait = 0;

    if (rl->qps <= 0)
        return 0;
    pthread_mutex_lock(&rl->lock);
    /* A clock that went backwards (a fake one in tests) refills nothing. */
    if (now > rl->last) {
        rl->tokens += (now - rl->last) * rl->qps;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
        rl->last = now;
    }
    rl->tokens -= 1;
    if (rl->tokens < 0)
        wait = -rl->tokens / rl->qps;
    pthread_mutex_unlock(&rl->lock);
    return wait;
}

void weir_kube_ratelimit_wait(struct weir_kube_ratelimit *rl)
{
    double wait = weir_kube_ratelimit_reserve(rl, weir_kube_monotonic());
    struct timespec ts;

    if (wait <= 0)
        return;
    ts.tv_sec = (time_t)wait;
    ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
