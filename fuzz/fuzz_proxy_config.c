/* Fuzzes the proxy-config loader: the proxy reads this document from a mounted
 * ConfigMap, so its bytes are input the proxy must never crash on. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config/proxy_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_proxy_config *cfg = NULL;
    struct weir_diags d;

    weir_diags_init(&d);
    if (weir_proxy_config_load((const char *)data, size, "fuzz.json", &cfg, &d) == 0)
        weir_proxy_config_free(cfg);
    for (size_t i = 0; i < d.len; i++)
        free(weir_diag_format(&d.items[i]));
    weir_diags_free(&d);
    return 0;
}
