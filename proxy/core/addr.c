#include "core/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h; that header needs more */
#endif

int wp_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *port_s;
    char *end;
    long port;

    memset(ss, 0, sizeof(*ss));
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
            return -1;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_s = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof(host))
            return -1;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_s = colon + 1;
    }
    errno = 0;
    port = strtol(port_s, &end, 10);
    if (errno || *end || end == port_s || port < 0 || port > 65535)
        return -1;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return -1;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return -1;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
    }
    return 0;
}

void wp_addr_ip(const struct sockaddr *sa, char *out, size_t cap)
{
    if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else
        snprintf(out, cap, "unknown");
}

/* Decimal digits of v into out, no terminator; returns how many. */
static size_t put_uint(char *out, unsigned v)
{
    char tmp[10];
    size_t n = 0, i = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        out[i++] = tmp[--n];
    return i;
}

void wp_addr_format(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    /* IPv4 by hand: inet_ntop and snprintf took about 2,800 instructions per call
     * under callgrind, and a request formats addresses several times. */
    if (sa->sa_family == AF_INET && cap >= sizeof("255.255.255.255:65535")) {
        const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
        size_t o = 0;
        for (int i = 0; i < 4; i++) {
            o += put_uint(out + o, b[i]);
            out[o++] = i < 3 ? '.' : ':';
        }
        o += put_uint(out + o, wp_addr_port(sa));
        out[o] = '\0';
        return;
    }
    wp_addr_ip(sa, ip, sizeof(ip));
    if (sa->sa_family == AF_INET6)
        snprintf(out, cap, "[%s]:%u", ip, wp_addr_port(sa));
    else
        snprintf(out, cap, "%s:%u", ip, wp_addr_port(sa));
}

uint16_t wp_addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    return 0;
}

void wp_addr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
}

const uint8_t *wp_addr_bytes(const struct sockaddr *sa, int *family)
{
    *family = sa->sa_family;
    if (sa->sa_family == AF_INET6)
        return (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
}

socklen_t wp_addr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

bool wp_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    int fa, fb;
    const uint8_t *pa = wp_addr_bytes(a, &fa), *pb = wp_addr_bytes(b, &fb);
    if (fa != fb || wp_addr_port(a) != wp_addr_port(b))
        return false;
    return memcmp(pa, pb, fa == AF_INET6 ? 16 : 4) == 0;
}

int wp_original_dst(int fd, struct sockaddr_storage *dst, bool *from_local)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);

    *from_local = false;
    if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
        return -1;
    len = sizeof(*dst);
    memset(dst, 0, sizeof(*dst));
    if (local.ss_family == AF_INET6) {
        if (getsockopt(fd, IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, dst, &len) == 0)
            goto found;
    } else if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, dst, &len) == 0) {
        goto found;
    }
    /* ENOENT: no NAT entry (not redirected); ENOPROTOOPT: no conntrack module at all.
     * Either way the client connected to us directly and meant this address. */
    if (errno != ENOENT && errno != ENOPROTOOPT)
        return -1;
    *dst = local;
    *from_local = true;
    return 0;
found:
    /* conntrack answers for connections it saw without NAT too: with the local address */
    *from_local = wp_addr_equal((struct sockaddr *)dst, (struct sockaddr *)&local);
    return 0;
}
