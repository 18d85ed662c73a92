/*
 * The traffic-capture rules weir-init writes into a pod's network namespace,
 * built as iptables-restore input. Pure code: options in, text out, no I/O, so
 * the rules are tested as golden text and `weir-init --dry-run` prints exactly
 * what would be applied.
 *
 * The nat-table layout follows istio-iptables, so `iptables -t nat -S` reads
 * the way Istio users expect, with WEIR_ in place of ISTIO_:
 *
 *   PREROUTING -p tcp -j WEIR_INBOUND       inbound TCP: capture ports or return
 *   WEIR_IN_REDIRECT                        REDIRECT to the inbound capture port
 *   OUTPUT -p tcp -j WEIR_OUTPUT            outbound TCP: proxy, loopback, exclusions
 *   WEIR_REDIRECT                           REDIRECT to the outbound capture port
 *
 * A rendered transaction is meant for ONE `iptables-restore --noflush` call per
 * address family. It declares the WEIR_ chains (which creates them, or flushes
 * them when they exist), deletes the jumps into any WEIR_ chain found in the
 * current rules, and adds the new rules, so applying twice yields the same
 * ruleset and a failure changes nothing.
 *
 * Return convention: int functions return 0 on success and -1 on failure; on
 * failure of a parse the error buffer holds a message naming the flag and the
 * value, e.g. `--exclude-inbound-ports: "http" is not a port number (expected
 * 1..65535)`. Render functions fail only when memory runs out.
 */
#ifndef WEIR_IPTABLES_RULES_H
#define WEIR_IPTABLES_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum weir_ip_family {
    WEIR_IPV4,
    WEIR_IPV6,
};

/* Source address the proxy uses for inbound connections to the app over
 * loopback, IPv6 counterpart of weir_default_ports.inbound_passthrough_source. */
#define WEIR_INBOUND_PASSTHROUGH_SOURCE6 "::6"

/* Entries per list option. A pod annotation is user input: a runaway list
 * must give a clear error, not a ruleset of unbounded size. */
#define WEIR_IPTABLES_MAX_ENTRIES 256

/* Largest rendered transaction; far above what MAX_ENTRIES can produce. */
#define WEIR_IPTABLES_MAX_OUTPUT (1024 * 1024)

/* Longest error message written by the parse functions, terminator included. */
#define WEIR_IPTABLES_ERR_MAX 256

/*
 * The options as the user wrote them (flag or environment values). NULL means
 * "the default": ports and identity from the shared port table (core/ports.h),
 * "*" for the include lists, nothing for the exclude lists. An empty string is
 * an explicit empty list: include_inbound_ports = "" captures no inbound
 * traffic, include_outbound_ranges = "" captures no outbound traffic.
 * Lists are comma-separated; blanks around entries are ignored.
 */
struct weir_iptables_options {
    const char *proxy_port;              /* --proxy-port */
    const char *inbound_capture_port;    /* --inbound-capture-port */
    const char *proxy_uid;               /* --proxy-uid */
    const char *proxy_gid;               /* --proxy-gid */
    const char *include_outbound_ranges; /* --include-outbound-ranges: "*" or CIDRs */
    const char *exclude_outbound_ranges; /* --exclude-outbound-ranges: CIDRs */
    const char *include_inbound_ports;   /* --include-inbound-ports: "*" or ports */
    const char *exclude_inbound_ports;   /* --exclude-inbound-ports */
    const char *exclude_outbound_ports;  /* --exclude-outbound-ports */
};

/* An address with its prefix length, host bits cleared; a bare address is a
 * host route (/32 or /128). */
struct weir_cidr {
    enum weir_ip_family family;
    uint8_t addr[16]; /* network byte order; 4 bytes used for IPv4 */
    unsigned prefix;
};

struct weir_port_list {
    uint16_t ports[WEIR_IPTABLES_MAX_ENTRIES];
    size_t len;
};

struct weir_cidr_list {
    struct weir_cidr items[WEIR_IPTABLES_MAX_ENTRIES];
    size_t len;
};

/* The validated options. Lists keep the user's order without duplicates. */
struct weir_iptables_spec {
    uint16_t proxy_port;
    uint16_t inbound_capture_port;
    uint16_t health_port;  /* never captured inbound: kubelet probes reach the proxy */
    uint16_t metrics_port; /* never captured inbound: Prometheus scrapes the proxy */
    uint32_t proxy_uid;
    uint32_t proxy_gid;
    bool outbound_all; /* include_outbound_ranges was "*" */
    struct weir_cidr_list include_outbound;
    struct weir_cidr_list exclude_outbound;
    bool inbound_all; /* include_inbound_ports was "*" */
    struct weir_port_list include_inbound;
    struct weir_port_list exclude_inbound;
    struct weir_port_list exclude_outbound_ports;
};

/* Validates every option; on failure writes the first error into err
 * (errlen >= 1) and returns -1. */
int weir_iptables_spec_parse(struct weir_iptables_spec *spec,
                             const struct weir_iptables_options *opts, char *err, size_t errlen);

/* Building blocks of weir_iptables_spec_parse, exported for the shell's other
 * flags and for tests. `flag` names the option in the error ("--proxy-port"). */
int weir_iptables_parse_port(const char *flag, const char *value, uint16_t *out, char *err,
                             size_t errlen);
int weir_iptables_parse_id(const char *flag, const char *value, uint32_t *out, char *err,
                           size_t errlen);
int weir_iptables_parse_ports(const char *flag, const char *value, struct weir_port_list *out,
                              char *err, size_t errlen);
int weir_iptables_parse_cidrs(const char *flag, const char *value, struct weir_cidr_list *out,
                              char *err, size_t errlen);

/* "10.0.0.0/8", "fd00::/8". buf must hold at least 44 bytes. */
void weir_cidr_format(const struct weir_cidr *cidr, char *buf, size_t len);

/*
 * Renders the capture transaction for one family into *out (malloc'd, NUL
 * terminated; the caller frees).
 *
 * `current` is the output of `iptables-save -t nat` (or ip6tables-save) for
 * that family, or NULL for a namespace without rules. Every rule it holds that
 * jumps from another chain into a WEIR_ chain gets a matching -D, and WEIR_
 * chains this version no longer uses are removed, so the result replaces what
 * is there instead of adding to it.
 */
int weir_iptables_render(const struct weir_iptables_spec *spec, enum weir_ip_family family,
                         const char *current, char **out);

/*
 * Renders the transaction that removes every WEIR_ chain of the nat table and
 * every jump into one. With current == NULL it assumes the layout that
 * weir_iptables_render installs (used by --dry-run, which reads nothing). When
 * `current` holds nothing of Weir's, *out is an empty string: there is nothing
 * to run, which makes cleanup idempotent.
 */
int weir_iptables_render_cleanup(enum weir_ip_family family, const char *current, char **out);

const char *weir_ip_family_name(enum weir_ip_family family); /* "ipv4", "ipv6" */

#endif
