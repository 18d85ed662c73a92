#include "core/ports.h"

const struct weir_ports weir_default_ports = {
    .outbound_capture = WEIR_PORT_OUTBOUND_CAPTURE,
    .inbound_capture = WEIR_PORT_INBOUND_CAPTURE,
    .admin = WEIR_PORT_ADMIN,
    .health = WEIR_PORT_HEALTH,
    .metrics = WEIR_PORT_METRICS,
    .proxy_uid = WEIR_PROXY_UID,
    .proxy_gid = WEIR_PROXY_GID,
    .inbound_passthrough_source = WEIR_INBOUND_PASSTHROUGH_SOURCE,
};
