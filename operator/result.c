#include "result.h"

const char *weir_op_result_name(enum weir_op_result r)
{
    switch (r) {
    case WEIR_OP_OK:
        return "ok";
    case WEIR_OP_FAILED:
        return "failed";
    case WEIR_OP_RETRY:
        return "retry";
    case WEIR_OP_NOT_LEADER:
        return "not-leader";
    }
    return "?";
}

enum weir_op_result weir_op_classify(const struct weir_kube_error *err)
{
    if (!err)
        return WEIR_OP_RETRY;
    switch (err->code) {
    case WEIR_KUBE_ERR_HTTP:
        if (err->http_status == 429 || err->http_status == 409 || err->http_status >= 500 ||
            err->http_status == 408)
            return WEIR_OP_RETRY;
        return WEIR_OP_FAILED;
    case WEIR_KUBE_ERR_INVALID:
    case WEIR_KUBE_ERR_CONFIG:
    case WEIR_KUBE_ERR_TOO_LARGE:
        return WEIR_OP_FAILED;
    default:
        /* no answer, a garbled one, 410, out of memory, stopped */
        return WEIR_OP_RETRY;
    }
}

enum weir_op_result weir_op_worse(enum weir_op_result a, enum weir_op_result b)
{
    return a > b ? a : b;
}

bool weir_op_gate_open(const struct weir_op_gate *gate)
{
    return !gate || !gate->allowed || gate->allowed(gate->arg);
}
