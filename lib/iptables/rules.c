#include "iptables/rules.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ports.h"

/* The chains weir_iptables_render creates, in the order they are declared. */
static const char *const weir_chains[] = {"WEIR_INBOUND", "WEIR_IN_REDIRECT", "WEIR_OUTPUT",
                                          "WEIR_REDIRECT"};
#define WEIR_CHAIN_PREFIX "WEIR_"

/* Longest piece of a user's value echoed in an error: the message must stay
 * readable when the value is a pasted wall of text. */
#define ECHO_MAX 64

/* ---- errors -------------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- text ---------------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies [s, s+n) without surrounding blanks into buf. Text that does not fit
 * ends in "...", which no port, number or CIDR contains: a cut value is
 * refused instead of being read as a different, shorter one. */
static void trim_copy(const char *s, size_t n, char *buf, size_t len)
{
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    if (n >= len) {
        memcpy(buf, s, len - 4);
        memcpy(buf + len - 4, "...", 4);
        return;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
}

static bool all_blank(const char *s)
{
    for (; *s; s++)
        if (!is_blank(*s))
            return false;
    return true;
}

/* Parses a decimal number of only digits, at most `max`. Returns 0, -1 when
 * the text is not a number, -2 when it is one but above max. */
static int parse_decimal(const char *s, unsigned long long max, unsigned long long *out)
{
    unsigned long long v = 0;
    bool big = false;
    if (*s == '\0')
        return -1;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        if (!big) {
            v = v * 10 + (unsigned)(*c - '0');
            if (v > max)
                big = true;
        }
    }
    if (big)
        return -2;
    *out = v;
    return 0;
}

/* ---- single values ------------------------------------------------------- */

int weir_iptables_parse_port(const char *flag, const char *value, uint16_t *out, char *err,
                             size_t errlen)
{
    char buf[ECHO_MAX + 4];
    unsigned long long v;

    trim_copy(value, strlen(value), buf, sizeof(buf));
    switch (parse_decimal(buf, 65535, &v)) {
    case 0:
        if (v == 0)
            return fail(err, errlen, "%s: port %s is out of range (expected 1..65535)", flag, buf);
        *out = (uint16_t)v;
        return 0;
    case -2:
        return fail(err, errlen, "%s: port %s is out of range (expected 1..65535)", flag, buf);
    default:
        return fail(err, errlen, "%s: \"%s\" is not a port number (expected 1..65535)", flag, buf);
    }
}

int weir_iptables_parse_id(const char *flag, const char *value, uint32_t *out, char *err,
                           size_t errlen)
{
    char buf[ECHO_MAX + 4];
    unsigned long long v;

    trim_copy(value, strlen(value), buf, sizeof(buf));
    /* (uid_t)-1 means "unchanged" to the kernel, so it can never be an owner. */
    switch (parse_decimal(buf, 4294967294ULL, &v)) {
    case 0:
        *out = (uint32_t)v;
        return 0;
    case -2:
        return fail(err, errlen, "%s: %s is out of range (expected 0..4294967294)", flag, buf);
    default:
        return fail(err, errlen, "%s: \"%s\" is not a number", flag, buf);
    }
}

static int parse_cidr(const char *flag, const char *text, struct weir_cidr *out, char *err,
                      size_t errlen)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    unsigned max;

    if (alen == 0 || alen >= sizeof(addr))
        goto bad_address;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = WEIR_IPV4;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = WEIR_IPV6;
        max = 128;
    } else {
        goto bad_address;
    }

    out->prefix = max;
    if (slash) {
        unsigned long long v;
        if (parse_decimal(slash + 1, max, &v) != 0)
            return fail(err, errlen, "%s: \"%s\" is not a valid CIDR (prefix length must be 0..%u)",
                        flag, text, max);
        out->prefix = (unsigned)v;
    }
    /* Keep the network address only, as iptables itself stores it, so the
     * rendered rules compare equal to what iptables-save prints back. */
    for (unsigned bit = out->prefix; bit < max; bit++)
        out->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return 0;

bad_address:
    return fail(err, errlen,
                "%s: \"%s\" is not a valid CIDR (expected an address like 10.0.0.0/8 or "
                "fd00::/8)",
                flag, text);
}

void weir_cidr_format(const struct weir_cidr *cidr, char *buf, size_t len)
{
    char addr[INET6_ADDRSTRLEN];
    int af = cidr->family == WEIR_IPV4 ? AF_INET : AF_INET6;
    if (!inet_ntop(af, cidr->addr, addr, sizeof(addr)))
        snprintf(addr, sizeof(addr), "?");
    snprintf(buf, len, "%s/%u", addr, cidr->prefix);
}

/* ---- lists --------------------------------------------------------------- */

/* Splits a comma-separated value and hands each trimmed entry to `each`. An
 * entry that is empty is an error rather than skipped: "80,,443" is more
 * likely a typo than an intent. */
static int split_list(const char *flag, const char *value,
                      int (*each)(void *ctx, const char *entry), void *ctx, char *err,
                      size_t errlen)
{
    char entry[ECHO_MAX + 4];
    char echo[ECHO_MAX + 4];

    if (all_blank(value))
        return 0;
    for (const char *p = value;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        trim_copy(p, n, entry, sizeof(entry));
        if (entry[0] == '\0') {
            trim_copy(value, strlen(value), echo, sizeof(echo));
            return fail(err, errlen, "%s: empty entry in \"%s\"", flag, echo);
        }
        if (each(ctx, entry) != 0)
            return -1;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

struct port_ctx {
    const char *flag;
    struct weir_port_list *list;
    char *err;
    size_t errlen;
};

static int add_port(void *ctx, const char *entry)
{
    struct port_ctx *c = ctx;
    uint16_t port;
    if (weir_iptables_parse_port(c->flag, entry, &port, c->err, c->errlen) != 0)
        return -1;
    for (size_t i = 0; i < c->list->len; i++)
        if (c->list->ports[i] == port)
            return 0;
    if (c->list->len == WEIR_IPTABLES_MAX_ENTRIES)
        return fail(c->err, c->errlen, "%s: too many entries (at most %d)", c->flag,
                    WEIR_IPTABLES_MAX_ENTRIES);
    c->list->ports[c->list->len++] = port;
    return 0;
}

int weir_iptables_parse_ports(const char *flag, const char *value, struct weir_port_list *out,
                              char *err, size_t errlen)
{
    struct port_ctx ctx = {flag, out, err, errlen};
    out->len = 0;
    return split_list(flag, value, add_port, &ctx, err, errlen);
}

struct cidr_ctx {
    const char *flag;
    struct weir_cidr_list *list;
    char *err;
    size_t errlen;
};

static int add_cidr(void *ctx, const char *entry)
{
    struct cidr_ctx *c = ctx;
    struct weir_cidr cidr;
    if (parse_cidr(c->flag, entry, &cidr, c->err, c->errlen) != 0)
        return -1;
    for (size_t i = 0; i < c->list->len; i++)
        if (memcmp(&c->list->items[i], &cidr, sizeof(cidr)) == 0)
            return 0;
    if (c->list->len == WEIR_IPTABLES_MAX_ENTRIES)
        return fail(c->err, c->errlen, "%s: too many entries (at most %d)", c->flag,
                    WEIR_IPTABLES_MAX_ENTRIES);
    c->list->items[c->list->len++] = cidr;
    return 0;
}

int weir_iptables_parse_cidrs(const char *flag, const char *value, struct weir_cidr_list *out,
                              char *err, size_t errlen)
{
    struct cidr_ctx ctx = {flag, out, err, errlen};
    out->len = 0;
    return split_list(flag, value, add_cidr, &ctx, err, errlen);
}

/* "*" alone means everything; "*" mixed with entries is refused because
 * either reading of it ("everything" or "these") would surprise someone. */
static int parse_wildcard(const char *flag, const char *value, bool *all, char *err, size_t errlen)
{
    char buf[ECHO_MAX + 4];
    trim_copy(value, strlen(value), buf, sizeof(buf));
    *all = strcmp(buf, "*") == 0;
    if (!*all && strchr(value, '*'))
        return fail(err, errlen, "%s: \"*\" must be the only entry, got \"%s\"", flag, buf);
    return 0;
}

/* ---- the whole option set ------------------------------------------------ */

int weir_iptables_spec_parse(struct weir_iptables_spec *spec, const struct weir_iptables_options *o,
                             char *err, size_t errlen)
{
    const struct weir_ports *def = &weir_default_ports;

    memset(spec, 0, sizeof(*spec));
    spec->proxy_port = def->outbound_capture;
    spec->inbound_capture_port = def->inbound_capture;
    spec->health_port = def->health;
    spec->metrics_port = def->metrics;
    spec->proxy_uid = def->proxy_uid;
    spec->proxy_gid = def->proxy_gid;
    spec->outbound_all = true;
    spec->inbound_all = true;

    if (o->proxy_port &&
        weir_iptables_parse_port("--proxy-port", o->proxy_port, &spec->proxy_port, err, errlen))
        return -1;
    if (o->inbound_capture_port &&
        weir_iptables_parse_port("--inbound-capture-port", o->inbound_capture_port,
                                 &spec->inbound_capture_port, err, errlen))
        return -1;
    if (o->proxy_uid &&
        weir_iptables_parse_id("--proxy-uid", o->proxy_uid, &spec->proxy_uid, err, errlen))
        return -1;
    if (o->proxy_gid &&
        weir_iptables_parse_id("--proxy-gid", o->proxy_gid, &spec->proxy_gid, err, errlen))
        return -1;

    if (o->include_outbound_ranges) {
        const char *flag = "--include-outbound-ranges";
        if (parse_wildcard(flag, o->include_outbound_ranges, &spec->outbound_all, err, errlen))
            return -1;
        if (!spec->outbound_all && weir_iptables_parse_cidrs(flag, o->include_outbound_ranges,
                                                             &spec->include_outbound, err, errlen))
            return -1;
    }
    if (o->exclude_outbound_ranges &&
        weir_iptables_parse_cidrs("--exclude-outbound-ranges", o->exclude_outbound_ranges,
                                  &spec->exclude_outbound, err, errlen))
        return -1;

    if (o->include_inbound_ports) {
        const char *flag = "--include-inbound-ports";
        if (parse_wildcard(flag, o->include_inbound_ports, &spec->inbound_all, err, errlen))
            return -1;
        if (!spec->inbound_all && weir_iptables_parse_ports(flag, o->include_inbound_ports,
                                                            &spec->include_inbound, err, errlen))
            return -1;
    }
    if (o->exclude_inbound_ports &&
        weir_iptables_parse_ports("--exclude-inbound-ports", o->exclude_inbound_ports,
                                  &spec->exclude_inbound, err, errlen))
        return -1;
    if (o->exclude_outbound_ports &&
        weir_iptables_parse_ports("--exclude-outbound-ports", o->exclude_outbound_ports,
                                  &spec->exclude_outbound_ports, err, errlen))
        return -1;

    /* One listener would receive both directions and could not tell them apart. */
    if (spec->proxy_port == spec->inbound_capture_port)
        return fail(err, errlen,
                    "--inbound-capture-port: must differ from --proxy-port (both are %u)",
                    (unsigned)spec->proxy_port);
    return 0;
}

const char *weir_ip_family_name(enum weir_ip_family family)
{
    return family == WEIR_IPV6 ? "ipv6" : "ipv4";
}

/* ---- output buffer ------------------------------------------------------- */

struct sbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* out of memory or over WEIR_IPTABLES_MAX_OUTPUT; sticky */
};

static void sb_grow(struct sbuf *sb, size_t need)
{
    size_t cap = sb->cap ? sb->cap : 4096;
    char *p;
    if (need > WEIR_IPTABLES_MAX_OUTPUT) {
        sb->failed = true;
        return;
    }
    while (cap < need)
        cap *= 2;
    if (cap > WEIR_IPTABLES_MAX_OUTPUT)
        cap = WEIR_IPTABLES_MAX_OUTPUT;
    p = realloc(sb->data, cap);
    if (!p) {
        sb->failed = true;
        return;
    }
    sb->data = p;
    sb->cap = cap;
}

static void sb_put(struct sbuf *sb, const char *s, size_t n)
{
    if (sb->failed)
        return;
    if (sb->len + n + 1 > sb->cap)
        sb_grow(sb, sb->len + n + 1);
    if (sb->failed)
        return;
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

static void sb_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Every rule this module formats is far shorter; a cut rule would be a
     * wrong rule, so refuse rather than truncate. */
    if (n < 0 || (size_t)n >= sizeof(line)) {
        sb->failed = true;
        return;
    }
    sb_put(sb, line, (size_t)n);
}

static int sb_finish(struct sbuf *sb, char **out)
{
    sb_put(sb, "", 0);
    if (sb->failed || !sb->data) {
        free(sb->data);
        *out = NULL;
        return -1;
    }
    *out = sb->data;
    return 0;
}

/* ---- reading the current rules ------------------------------------------- */

struct span {
    const char *p;
    size_t n;
};

static bool span_eq(struct span s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static bool span_has_prefix(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n >= n && memcmp(s.p, lit, n) == 0;
}

static bool is_weir_chain(struct span name)
{
    return span_has_prefix(name, WEIR_CHAIN_PREFIX);
}

static bool is_managed_chain(struct span name)
{
    for (size_t i = 0; i < sizeof(weir_chains) / sizeof(weir_chains[0]); i++)
        if (span_eq(name, weir_chains[i]))
            return true;
    return false;
}

/* Next blank-separated token of [*p, end); a double-quoted token (a rule
 * comment) runs to its closing quote, so text inside a comment is never taken
 * for a target. */
static bool next_token(const char **p, const char *end, struct span *tok)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if (s >= end)
        return false;
    tok->p = s;
    if (*s == '"') {
        for (s++; s < end && *s != '"'; s++)
            if (*s == '\\' && s + 1 < end)
                s++;
        if (s < end)
            s++;
    } else {
        while (s < end && *s != ' ' && *s != '\t')
            s++;
    }
    tok->n = (size_t)(s - tok->p);
    *p = s;
    return true;
}

/* One line of `iptables-save` output inside the *nat table. */
enum save_kind {
    SAVE_CHAIN, /* ":NAME POLICY [p:b]": name in `chain` */
    SAVE_RULE,  /* "-A NAME spec...": name in `chain`, the spec in `spec` */
};

struct save_line {
    enum save_kind kind;
    struct span chain;
    struct span spec;
};

struct save_iter {
    const char *p;
    bool in_nat;
};

static bool save_next(struct save_iter *it, struct save_line *out)
{
    while (it->p && *it->p) {
        const char *start = it->p;
        const char *nl = strchr(start, '\n');
        const char *end = nl ? nl : start + strlen(start);
        it->p = nl ? nl + 1 : end;
        while (end > start && (end[-1] == '\r' || end[-1] == ' '))
            end--;
        if (end == start || *start == '#')
            continue;
        if (*start == '*') {
            struct span table = {start + 1, (size_t)(end - start - 1)};
            it->in_nat = span_eq(table, "nat");
            continue;
        }
        if (!it->in_nat)
            continue;
        if (end - start == 6 && memcmp(start, "COMMIT", 6) == 0) {
            it->in_nat = false;
            continue;
        }
        const char *q = start;
        struct span tok;
        if (*start == ':') {
            q = start + 1;
            if (!next_token(&q, end, &out->chain))
                continue;
            out->kind = SAVE_CHAIN;
            out->spec.p = q;
            out->spec.n = 0;
            return true;
        }
        if (!next_token(&q, end, &tok) || !span_eq(tok, "-A") || !next_token(&q, end, &out->chain))
            continue;
        while (q < end && *q == ' ')
            q++;
        out->kind = SAVE_RULE;
        out->spec.p = q;
        out->spec.n = (size_t)(end - q);
        return true;
    }
    return false;
}

/* True when a rule of a chain that is not Weir's jumps (or goes) into one that
 * is: the hooks weir-init added, or a copy someone else made. */
static bool is_jump_into_weir(const struct save_line *l)
{
    const char *q = l->spec.p;
    const char *end = l->spec.p + l->spec.n;
    struct span tok, target;

    if (l->kind != SAVE_RULE || is_weir_chain(l->chain))
        return false;
    while (next_token(&q, end, &tok)) {
        if (span_eq(tok, "-j") || span_eq(tok, "--jump") || span_eq(tok, "-g") ||
            span_eq(tok, "--goto")) {
            if (next_token(&q, end, &target) && is_weir_chain(target))
                return true;
        }
    }
    return false;
}

enum existing_pass {
    DECLARE_STALE, /* ":WEIR_X - [0:0]" for chains to remove: flushes them first */
    DELETE_JUMPS,  /* "-D CHAIN spec" for each jump into a WEIR_ chain */
    DESTROY_STALE, /* "-X WEIR_X" */
};

/* `keep_managed`: the chains weir_iptables_render recreates are not stale. */
static void emit_existing(struct sbuf *sb, const char *current, enum existing_pass pass,
                          bool keep_managed)
{
    struct save_iter it = {current, false};
    struct save_line l;

    while (save_next(&it, &l)) {
        if (pass == DELETE_JUMPS) {
            if (is_jump_into_weir(&l))
                sb_printf(sb, "-D %.*s %.*s\n", (int)l.chain.n, l.chain.p, (int)l.spec.n, l.spec.p);
            continue;
        }
        if (l.kind != SAVE_CHAIN || !is_weir_chain(l.chain))
            continue;
        if (keep_managed && is_managed_chain(l.chain))
            continue;
        if (pass == DECLARE_STALE)
            sb_printf(sb, ":%.*s - [0:0]\n", (int)l.chain.n, l.chain.p);
        else
            sb_printf(sb, "-X %.*s\n", (int)l.chain.n, l.chain.p);
    }
}

/* ---- rendering ----------------------------------------------------------- */

struct family_addrs {
    const char *loopback;    /* "127.0.0.1/32" */
    const char *passthrough; /* "127.0.0.6/32" */
};

static void family_addrs(enum weir_ip_family family, struct family_addrs *a, char *pass,
                         size_t passlen)
{
    if (family == WEIR_IPV6) {
        a->loopback = "::1/128";
        snprintf(pass, passlen, "%s/128", WEIR_INBOUND_PASSTHROUGH_SOURCE6);
    } else {
        a->loopback = "127.0.0.1/32";
        snprintf(pass, passlen, "%s/32", weir_default_ports.inbound_passthrough_source);
    }
    a->passthrough = pass;
}

static bool port_in(const struct weir_port_list *list, uint16_t port)
{
    for (size_t i = 0; i < list->len; i++)
        if (list->ports[i] == port)
            return true;
    return false;
}

/* The ports inbound capture never takes: the proxy's own listeners, reached
 * directly by kubelet probes, Prometheus and (for the capture ports) nobody
 * who should be looped back into them. */
static void builtin_inbound_exclusions(const struct weir_iptables_spec *s,
                                       struct weir_port_list *out)
{
    const uint16_t ports[] = {s->proxy_port, s->inbound_capture_port, s->health_port,
                              s->metrics_port};
    out->len = 0;
    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
        if (!port_in(out, ports[i]))
            out->ports[out->len++] = ports[i];
}

static bool inbound_enabled(const struct weir_iptables_spec *s)
{
    return s->inbound_all || s->include_inbound.len > 0;
}

static void render_inbound(struct sbuf *sb, const struct weir_iptables_spec *s)
{
    struct weir_port_list builtin;

    if (!inbound_enabled(s))
        return;
    builtin_inbound_exclusions(s, &builtin);
    if (s->inbound_all) {
        for (size_t i = 0; i < builtin.len; i++)
            sb_printf(sb, "-A WEIR_INBOUND -p tcp --dport %u -j RETURN\n",
                      (unsigned)builtin.ports[i]);
        for (size_t i = 0; i < s->exclude_inbound.len; i++)
            if (!port_in(&builtin, s->exclude_inbound.ports[i]))
                sb_printf(sb, "-A WEIR_INBOUND -p tcp --dport %u -j RETURN\n",
                          (unsigned)s->exclude_inbound.ports[i]);
        sb_printf(sb, "-A WEIR_INBOUND -p tcp -j WEIR_IN_REDIRECT\n");
        return;
    }
    /* An explicit list captures exactly its ports; an exclusion still wins. */
    for (size_t i = 0; i < s->include_inbound.len; i++) {
        uint16_t port = s->include_inbound.ports[i];
        if (!port_in(&builtin, port) && !port_in(&s->exclude_inbound, port))
            sb_printf(sb, "-A WEIR_INBOUND -p tcp --dport %u -j WEIR_IN_REDIRECT\n",
                      (unsigned)port);
    }
}

/* The loopback and owner rules for one owner match ("uid" or "gid"):
 *  - the proxy reaching its own pod's address over lo is inbound traffic for
 *    this pod, so it goes to the inbound listener;
 *  - anyone else over lo (the app to itself) is left alone;
 *  - everything else the proxy sends is its upstream traffic: never captured
 *    again, which is what keeps the proxy out of a loop. */
static void render_owner(struct sbuf *sb, const struct family_addrs *a, const char *kind,
                         uint32_t id)
{
    sb_printf(sb,
              "-A WEIR_OUTPUT -o lo ! -d %s -p tcp -m owner --%s-owner %lu -j WEIR_IN_REDIRECT\n",
              a->loopback, kind, (unsigned long)id);
    sb_printf(sb, "-A WEIR_OUTPUT -o lo -m owner ! --%s-owner %lu -j RETURN\n", kind,
              (unsigned long)id);
    sb_printf(sb, "-A WEIR_OUTPUT -m owner --%s-owner %lu -j RETURN\n", kind, (unsigned long)id);
}

static void render_cidrs(struct sbuf *sb, const struct weir_cidr_list *list,
                         enum weir_ip_family family, const char *target)
{
    char text[64];
    for (size_t i = 0; i < list->len; i++) {
        if (list->items[i].family != family)
            continue;
        weir_cidr_format(&list->items[i], text, sizeof(text));
        sb_printf(sb, "-A WEIR_OUTPUT -d %s -j %s\n", text, target);
    }
}

static void render_outbound(struct sbuf *sb, const struct weir_iptables_spec *s,
                            enum weir_ip_family family)
{
    struct family_addrs a;
    char pass[64];

    family_addrs(family, &a, pass, sizeof(pass));
    for (size_t i = 0; i < s->exclude_outbound_ports.len; i++)
        sb_printf(sb, "-A WEIR_OUTPUT -p tcp --dport %u -j RETURN\n",
                  (unsigned)s->exclude_outbound_ports.ports[i]);
    /* The proxy's inbound connections to the app: already seen once. */
    sb_printf(sb, "-A WEIR_OUTPUT -o lo -s %s -j RETURN\n", a.passthrough);
    render_owner(sb, &a, "uid", s->proxy_uid);
    render_owner(sb, &a, "gid", s->proxy_gid);
    sb_printf(sb, "-A WEIR_OUTPUT -d %s -j RETURN\n", a.loopback);
    render_cidrs(sb, &s->exclude_outbound, family, "RETURN");
    if (s->outbound_all)
        sb_printf(sb, "-A WEIR_OUTPUT -j WEIR_REDIRECT\n");
    else
        render_cidrs(sb, &s->include_outbound, family, "WEIR_REDIRECT");
}

int weir_iptables_render(const struct weir_iptables_spec *spec, enum weir_ip_family family,
                         const char *current, char **out)
{
    struct sbuf sb = {0};

    sb_printf(&sb, "*nat\n");
    for (size_t i = 0; i < sizeof(weir_chains) / sizeof(weir_chains[0]); i++)
        sb_printf(&sb, ":%s - [0:0]\n", weir_chains[i]);
    if (current) {
        emit_existing(&sb, current, DECLARE_STALE, true);
        emit_existing(&sb, current, DELETE_JUMPS, true);
        emit_existing(&sb, current, DESTROY_STALE, true);
    }
    render_inbound(&sb, spec);
    sb_printf(&sb, "-A WEIR_IN_REDIRECT -p tcp -j REDIRECT --to-ports %u\n",
              (unsigned)spec->inbound_capture_port);
    render_outbound(&sb, spec, family);
    sb_printf(&sb, "-A WEIR_REDIRECT -p tcp -j REDIRECT --to-ports %u\n",
              (unsigned)spec->proxy_port);
    /* Hooks last: until COMMIT nothing is live anyway, and a reader of the
     * text sees the chains before what enters them. */
    if (inbound_enabled(spec))
        sb_printf(&sb, "-A PREROUTING -p tcp -j WEIR_INBOUND\n");
    sb_printf(&sb, "-A OUTPUT -p tcp -j WEIR_OUTPUT\n");
    sb_printf(&sb, "COMMIT\n");
    return sb_finish(&sb, out);
}

/* What weir_iptables_render installs, as iptables-save would show it; the
 * assumed state for a cleanup that may not read the real one. */
static const char installed_layout[] = "*nat\n"
                                       ":WEIR_INBOUND - [0:0]\n"
                                       ":WEIR_IN_REDIRECT - [0:0]\n"
                                       ":WEIR_OUTPUT - [0:0]\n"
                                       ":WEIR_REDIRECT - [0:0]\n"
                                       "-A PREROUTING -p tcp -j WEIR_INBOUND\n"
                                       "-A OUTPUT -p tcp -j WEIR_OUTPUT\n"
                                       "COMMIT\n";

int weir_iptables_render_cleanup(enum weir_ip_family family, const char *current, char **out)
{
    struct sbuf sb = {0};
    struct save_iter it;
    struct save_line l;
    bool found = false;

    (void)family; /* the same chain names in both families */
    if (!current)
        current = installed_layout;
    it = (struct save_iter){current, false};
    while (!found && save_next(&it, &l))
        found = (l.kind == SAVE_CHAIN && is_weir_chain(l.chain)) || is_jump_into_weir(&l);
    if (!found) {
        sb_put(&sb, "", 0);
        return sb_finish(&sb, out);
    }
    sb_printf(&sb, "*nat\n");
    emit_existing(&sb, current, DECLARE_STALE, false);
    emit_existing(&sb, current, DELETE_JUMPS, false);
    emit_existing(&sb, current, DESTROY_STALE, false);
    sb_printf(&sb, "COMMIT\n");
    return sb_finish(&sb, out);
}
