/*
 * Structured, leveled logging shared by every Weir binary.
 *
 * Two formats: JSON lines for machines (one object per line with "ts", "level",
 * "component", "msg" and the caller's fields) and human text
 * ("2026-11-25T10:00:00.123Z info  weir-operator: config written ns=default").
 * Fields are key/value string pairs ended by NULL:
 *
 *   weir_log(WEIR_LOG_INFO, "config written", "namespace", ns, "bytes", size_text, NULL);
 *
 * A line is written with one stdio call under the stream lock, so lines from
 * different threads never interleave.
 */
#ifndef WEIR_CORE_LOG_H
#define WEIR_CORE_LOG_H

#include <stdio.h>

enum weir_log_level {
    WEIR_LOG_DEBUG,
    WEIR_LOG_INFO,
    WEIR_LOG_WARN,
    WEIR_LOG_ERROR,
    WEIR_LOG_OFF,
};

enum weir_log_format {
    WEIR_LOG_TEXT,
    WEIR_LOG_JSON,
};

/* Sets the component name, format, threshold and stream (NULL means stderr).
 * May be called again at any time, e.g. by an admin "log level" endpoint. */
void weir_log_setup(const char *component, enum weir_log_format format, enum weir_log_level level,
                    FILE *out);
void weir_log_set_level(enum weir_log_level level);
enum weir_log_level weir_log_get_level(void);

/* Returns 0 and sets *out for "debug", "info", "warn"/"warning", "error", "off";
 * -1 otherwise. */
int weir_log_parse_level(const char *name, enum weir_log_level *out);
int weir_log_parse_format(const char *name, enum weir_log_format *out);
const char *weir_log_level_name(enum weir_log_level level);

/* Message plus NULL-terminated key/value string pairs. A NULL value prints as null. */
void weir_log(enum weir_log_level level, const char *msg, ...) __attribute__((sentinel));

/* printf-style message with no extra fields. */
void weir_logf(enum weir_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
