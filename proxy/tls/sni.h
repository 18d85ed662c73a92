/*
 * The server name (SNI) of a TLS ClientHello, for routing TLS passthrough
 * connections by sniHosts without terminating them. Pure and bounded: it reads only
 * the bytes given, reassembles a ClientHello split over several records into at
 * most WP_SNI_HELLO_MAX bytes, and never allocates. Fuzzed by fuzz/fuzz_sni.c.
 */
#ifndef WP_TLS_SNI_H
#define WP_TLS_SNI_H

#include <stddef.h>
#include <stdint.h>

#define WP_SNI_HELLO_MAX 16384 /* the ClientHello message, without record headers */
#define WP_SNI_NAME_MAX  255

enum wp_sni_result {
    WP_SNI_FOUND,   /* name holds the server name, lower-cased, NUL-terminated */
    WP_SNI_ABSENT,  /* a whole ClientHello without a server_name */
    WP_SNI_MORE,    /* a valid beginning: more bytes are needed */
    WP_SNI_INVALID, /* not a TLS ClientHello, malformed, or larger than the bounds */
};

/* name must have room for WP_SNI_NAME_MAX + 1 bytes. */
enum wp_sni_result wp_sni_parse(const uint8_t *p, size_t n, char *name);

#endif
