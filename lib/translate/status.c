/*
 * The status of every CR read: accepted or not, with the reason, and every
 * warning about it. Messages are recorded once per object however many
 * namespaces they were met in, so a large mesh does not multiply them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "translate/translate_internal.h"

static void vadd(struct tr_ctx *ctx, struct tr_cr *cr, enum weir_severity sev, const char *path,
                 const char *fmt, va_list ap)
{
    char msg[1024];
    struct weir_diags *d = &cr->status->diags;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    for (size_t i = 0; i < d->len; i++)
        if (d->items[i].severity == sev && strcmp(d->items[i].message, msg) == 0 &&
            tr_strcmp0(d->items[i].path, path) == 0)
            return;
    if (weir_diags_add(d, sev, cr->label, cr->in->source, cr->in->line, path ? path : "", "%s",
                       msg) != 0 &&
        !d->truncated)
        ctx->oom = true;
}

void tr_status_add(struct tr_ctx *ctx, struct tr_cr *cr, enum weir_severity sev, const char *path,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd(ctx, cr, sev, path, fmt, ap);
    va_end(ap);
}

void tr_status_reject(struct tr_ctx *ctx, struct tr_cr *cr, const char *reason, const char *fmt,
                      ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cr->status->accepted) {
        cr->status->accepted = false;
        cr->status->reason = reason;
        free(cr->status->message);
        cr->status->message = strdup(msg);
        if (!cr->status->message)
            ctx->oom = true;
    }
    tr_status_add(ctx, cr,
                  strcmp(reason, "Unsupported") == 0 ? WEIR_SEV_UNSUPPORTED : WEIR_SEV_ERROR, "",
                  "%s", msg);
}

void tr_note(struct tr_ctx *ctx, const json_t *obj, const char *fmt, ...)
{
    char msg[1024];
    struct weir_diags *d = &ctx->out->diags;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (void)obj;
    for (size_t i = 0; i < d->len; i++)
        if (strcmp(d->items[i].message, msg) == 0)
            return;
    weir_diags_add(d, WEIR_SEV_WARNING, "", NULL, 0, "", "%s", msg);
}

/* The condition's message for an accepted object: its remarks, in one line. */
static char *summary(const struct weir_diags *d)
{
    struct tr_buf b = {0};
    size_t shown = 0;
    for (size_t i = 0; i < d->len; i++) {
        const struct weir_diag *g = &d->items[i];
        if (g->severity == WEIR_SEV_ERROR)
            continue;
        if (shown == 3) {
            tr_buf_printf(&b, "; and %zu more", d->len - i);
            break;
        }
        tr_buf_printf(&b, "%s%s%s%s%s", shown ? "; " : "", weir_severity_name(g->severity), ": ",
                      g->path && *g->path ? g->path : "", g->path && *g->path ? ": " : "");
        tr_buf_puts(&b, g->message);
        shown++;
    }
    if (b.oom) {
        tr_buf_free(&b);
        return NULL;
    }
    return b.data ? b.data : strdup("");
}

void tr_finish_statuses(struct tr_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_crs; i++) {
        struct tr_cr *cr = &ctx->crs[i];
        struct weir_cr_status *st = cr->status;
        if (cr->kind == WEIR_KIND_VIRTUAL_SERVICE && cr->res && cr->lost && !cr->won)
            tr_status_reject(ctx, cr, "Conflict",
                             "every host of this VirtualService is routed by another one that "
                             "takes precedence; it is not applied anywhere");
        if (st->accepted) {
            free(st->message);
            st->message = summary(&st->diags);
        }
        if (!st->message) {
            st->message = strdup("");
            if (!st->message)
                ctx->oom = true;
        }
    }
}

json_t *weir_cr_status_json(const struct weir_cr_status *st)
{
    json_t *cond =
        json_pack("{s:s, s:s, s:s, s:s, s:I}", "type", "Accepted", "status",
                  st->accepted ? "True" : "False", "reason", st->reason, "message",
                  st->message ? st->message : "", "observedGeneration", (json_int_t)st->generation);
    if (!cond)
        return NULL;
    return json_pack("{s:I, s:[o]}", "observedGeneration", (json_int_t)st->generation, "conditions",
                     cond);
}

char *weir_cr_status_format(const struct weir_cr_status *st)
{
    struct tr_buf b = {0};
    const char *kind = weir_kind_name(st->kind);
    tr_buf_printf(&b, "%s %s/%s: ", kind ? kind : "Object", st->namespace_, st->name);
    if (st->accepted)
        tr_buf_puts(&b, "accepted\n");
    else
        tr_buf_printf(&b, "not accepted (%s): %s\n", st->reason, st->message ? st->message : "");
    for (size_t i = 0; i < st->diags.len; i++) {
        const struct weir_diag *g = &st->diags.items[i];
        tr_buf_printf(&b, "  %s: ", weir_severity_name(g->severity));
        if (g->path && *g->path)
            tr_buf_printf(&b, "%s: ", g->path);
        tr_buf_printf(&b, "%s\n", g->message);
    }
    if (b.oom) {
        tr_buf_free(&b);
        return NULL;
    }
    return b.data;
}
