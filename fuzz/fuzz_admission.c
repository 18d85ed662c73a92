/* Fuzzes weir-webhook's request path: AdmissionReview bytes -> decode ->
 * injection patch and CR validation -> encoded response. The API server is
 * the only peer, but a webhook that crashes blocks every pod creation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "admission.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct weir_mesh_config mc;
    static int ready;
    struct weir_admission_review rv;
    char err[256];

    if (!ready) {
        if (weir_mesh_config_defaults(&mc) != 0)
            abort();
        ready = 1;
    }
    if (weir_admission_decode((const char *)data, size, &rv, err, sizeof(err)) != 0)
        return 0;
    struct weir_admission_response inject = {0}, validate = {0};
    weir_admission_inject(&rv, &mc, &inject);
    weir_admission_validate(&rv, &validate);
    free(weir_admission_encode(rv.uid, &inject));
    free(weir_admission_encode(rv.uid, &validate));
    weir_admission_response_free(&inject);
    weir_admission_response_free(&validate);
    weir_admission_review_free(&rv);
    return 0;
}
