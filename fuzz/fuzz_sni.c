/*
 * weir-proxy's ClientHello reader (proxy/tls/sni.c): the first bytes of a TLS
 * connection, from any client, before anything else looks at them.
 *
 * Beyond "no crash, no overread, no UB" it checks that the answer is stable as
 * bytes arrive: a prefix answers "more" or the same as the whole input (a name
 * found early is the name found later), and a name is printable, lower case and
 * within bounds.
 *
 * Links weir_proxy_core (see proxy/CMakeLists.txt).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/sni.h"

static void check_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > WP_SNI_NAME_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (name[i] <= ' ' || name[i] >= 0x7f || (name[i] >= 'A' && name[i] <= 'Z'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char whole[WP_SNI_NAME_MAX + 1], part[WP_SNI_NAME_MAX + 1];
    enum wp_sni_result rw, rp;
    size_t cut;
    uint8_t *copy;

    /* a heap copy of exactly size bytes, so that any overread is caught */
    copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    rw = wp_sni_parse(copy, size, whole);
    if (rw == WP_SNI_FOUND)
        check_name(whole);

    cut = size ? (size_t)copy[size - 1] * size / 256 : 0;
    rp = wp_sni_parse(copy, cut, part);
    if (rp == WP_SNI_FOUND) {
        check_name(part);
        if (rw != WP_SNI_FOUND || strcmp(part, whole) != 0)
            abort();
    } else if (rp != WP_SNI_MORE && rp != rw) {
        abort();
    }
    if (rw == WP_SNI_MORE && rp != WP_SNI_MORE)
        abort();
    free(copy);
    return 0;
}
