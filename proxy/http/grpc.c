#include "http/grpc.h"

#include <stdio.h>

int64_t wp_grpc_timeout_parse(const char *value, size_t len)
{
    uint64_t n = 0;
    size_t digits;

    if (len < 2 || len - 1 > WP_GRPC_TIMEOUT_MAX_DIGITS)
        return -1;
    digits = len - 1;
    for (size_t i = 0; i < digits; i++) {
        if (value[i] < '0' || value[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(value[i] - '0');
    }
    if (n == 0)
        return -1; /* "positive integer"; Envoy reads 0 as no deadline, the same outcome */
    /* at most 99999999: every product below stays far inside 64 bits */
    switch (value[digits]) {
    case 'H':
        n *= 3600000;
        break;
    case 'M':
        n *= 60000;
        break;
    case 'S':
        n *= 1000;
        break;
    case 'm':
        break;
    case 'u':
        n = (n + 999) / 1000;
        break;
    case 'n':
        n = (n + 999999) / 1000000;
        break;
    default:
        return -1;
    }
    return n > (uint64_t)WP_GRPC_TIMEOUT_MAX_MS ? WP_GRPC_TIMEOUT_MAX_MS : (int64_t)n;
}

size_t wp_grpc_timeout_format(int64_t ms, char *out, size_t cap)
{
    int n;
    if (ms < 1)
        ms = 1;
    if (ms <= 99999999)
        n = snprintf(out, cap, "%lldm", (long long)ms);
    else
        n = snprintf(out, cap, "%lldS", (long long)((ms + 999) / 1000));
    return n < 0 ? 0 : (size_t)n;
}
