/* SHA-256 for config revisions, on OpenSSL's low-level API; see
 * translate_internal.h for why that API rather than EVP. */
#include "translate_internal.h"

void tr_sha256_init(struct tr_sha256 *s)
{
    SHA256_Init(&s->ctx);
}

void tr_sha256_update(struct tr_sha256 *s, const void *data, size_t len)
{
    SHA256_Update(&s->ctx, data, len);
}

void tr_sha256_final(struct tr_sha256 *s, unsigned char out[32])
{
    SHA256_Final(out, &s->ctx);
}
