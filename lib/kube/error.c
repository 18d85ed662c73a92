#include "kube/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void weir_kube_error_clear(struct weir_kube_error *err)
{
    if (!err)
        return;
    err->code = WEIR_KUBE_OK;
    err->http_status = 0;
    err->what[0] = '\0';
    err->reason[0] = '\0';
    err->message[0] = '\0';
}

int weir_kube_error_set(struct weir_kube_error *err, int code, const char *what, const char *fmt,
                        ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    err->http_status = 0;
    err->reason[0] = '\0';
    snprintf(err->what, sizeof(err->what), "%s", what ? what : "");
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    } else {
        snprintf(err->message, sizeof(err->message), "%s", weir_kube_strerror(code));
    }
    return code;
}

const char *weir_kube_error_format(const struct weir_kube_error *err, char *buf, size_t len)
{
    size_t n = 0;

#define PUT(...)                                              \
    do {                                                      \
        if (n < len) {                                        \
            int w_ = snprintf(buf + n, len - n, __VA_ARGS__); \
            n += w_ > 0 ? (size_t)w_ : 0;                     \
        }                                                     \
    } while (0)

    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (!err || err->code == WEIR_KUBE_OK) {
        PUT("ok");
        return buf;
    }
    if (err->what[0])
        PUT("%s: ", err->what);
    if (err->http_status > 0) {
        PUT("%ld", err->http_status);
        if (err->reason[0])
            PUT(" %s", err->reason);
        PUT(": ");
    }
    PUT("%s", err->message[0] ? err->message : weir_kube_strerror(err->code));
#undef PUT
    return buf;
}

const char *weir_kube_strerror(int code)
{
    switch (code) {
    case WEIR_KUBE_OK:
        return "ok";
    case WEIR_KUBE_ERR_NOMEM:
        return "out of memory";
    case WEIR_KUBE_ERR_INVALID:
        return "invalid argument";
    case WEIR_KUBE_ERR_CONFIG:
        return "configuration error";
    case WEIR_KUBE_ERR_TRANSPORT:
        return "transport error";
    case WEIR_KUBE_ERR_HTTP:
        return "API server error";
    case WEIR_KUBE_ERR_DECODE:
        return "malformed response";
    case WEIR_KUBE_ERR_TOO_LARGE:
        return "response over the size limit";
    case WEIR_KUBE_ERR_GONE:
        return "resource version too old (gone)";
    case WEIR_KUBE_ERR_STOPPED:
        return "stopped";
    default:
        return "unknown error";
    }
}

static bool is_status(const struct weir_kube_error *err, long status, const char *reason)
{
    if (!err || err->code == WEIR_KUBE_OK)
        return false;
    return err->http_status == status || strcmp(err->reason, reason) == 0;
}

bool weir_kube_error_is_not_found(const struct weir_kube_error *err)
{
    return is_status(err, 404, "NotFound");
}

bool weir_kube_error_is_conflict(const struct weir_kube_error *err)
{
    /* AlreadyExists is also a 409; callers that retry on conflict must not
     * spin on a create that can never succeed. */
    return err && err->code != WEIR_KUBE_OK && err->http_status == 409 &&
           strcmp(err->reason, "AlreadyExists") != 0;
}

bool weir_kube_error_is_already_exists(const struct weir_kube_error *err)
{
    return err && err->code != WEIR_KUBE_OK && strcmp(err->reason, "AlreadyExists") == 0;
}
