/* Fuzzes the watch stream path: API server bytes, split at an arbitrary
 * point, -> lines -> watch events -> error statuses. The first input byte
 * chooses the split so chunk boundaries are fuzzed too. */
#include <stddef.h>
#include <stdint.h>

#include "kube/watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_line(void *arg, const char *line, size_t len)
{
    struct weir_kube_watch_event ev;
    struct weir_kube_error err;
    (void)arg;
    if (weir_kube_watch_event_parse(line, len, &ev, &err) != 0)
        return 0;
    if (ev.type == WEIR_KUBE_WATCH_ERROR)
        weir_kube_watch_event_error(&ev, "fuzz", &err);
    weir_kube_watch_event_free(&ev);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_kube_lines lines;
    size_t split;

    if (size == 0)
        return 0;
    split = data[0] % size;
    data++;
    size--;
    if (split > size)
        split = size;
    /* a small line limit reaches the oversize-line path quickly */
    weir_kube_lines_init(&lines, 4096);
    if (weir_kube_lines_feed(&lines, (const char *)data, split, on_line, NULL) == 0 &&
        weir_kube_lines_feed(&lines, (const char *)data + split, size - split, on_line, NULL) == 0)
        weir_kube_lines_finish(&lines, on_line, NULL);
    weir_kube_lines_free(&lines);
    return 0;
}
