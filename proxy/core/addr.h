/*
 * Socket address utilities: parsing "ip:port" / "[v6]:port", formatting, and the
 * original destination of a redirected connection.
 */
#ifndef WP_CORE_ADDR_H
#define WP_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define WP_ADDR_STRLEN 64 /* "[v6 address]:port" */

/* 0, or -1 when text is not an address with a port. */
int wp_addr_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len);
/* "ip:port" or "[ip]:port". */
void wp_addr_format(const struct sockaddr *sa, char *out, size_t cap);
/* The address alone. */
void wp_addr_ip(const struct sockaddr *sa, char *out, size_t cap);
uint16_t wp_addr_port(const struct sockaddr *sa);
void wp_addr_set_port(struct sockaddr_storage *ss, uint16_t port);
/* Pointer to the 4 or 16 address bytes and the family. */
const uint8_t *wp_addr_bytes(const struct sockaddr *sa, int *family);
socklen_t wp_addr_len(const struct sockaddr *sa);
bool wp_addr_equal(const struct sockaddr *a, const struct sockaddr *b);

/* The destination the client meant: SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST
 * (IPv6) when iptables redirected the connection. Without a redirect (ENOENT: no
 * conntrack NAT entry, as with a plain connection to an explicit listener) the
 * connection's local address is the destination; *from_local says so. */
int wp_original_dst(int fd, struct sockaddr_storage *dst, bool *from_local);

#endif
