/*
 * Leader election with a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection package does it, so that of two or more replicas exactly
 * one writes ConfigMaps and statuses:
 *
 *   lease duration 15 s  how long a holder's claim stands after its last
 *                        renewal, as seen by the others;
 *   renew deadline 10 s  the holder gives up (stops writing) when it could not
 *                        renew for this long: before the others may take over;
 *   retry period    2 s  how often a candidate tries and the holder renews.
 *
 * Expiry is judged on the local monotonic clock, never by comparing the
 * lease's renewTime with our wall clock: a candidate notes when it first
 * saw the current record (holder, renewTime, ...), and the lease is free
 * when that record has not changed for leaseDurationSeconds. Clock skew
 * between nodes therefore does not matter. Every write is a compare-and-swap
 * on resourceVersion (a PUT), so two candidates cannot both win.
 *
 *   CANDIDATE --acquired--> LEADER --renew failed for 10 s--> CANDIDATE
 *       ^                     | stop(release)
 *       +---------------------+--> holderIdentity "" and 1 s duration, so a
 *                                  standby takes over at its next try
 *
 * weir_op_leader_is_leader() answers for the writers, and checks the
 * deadline itself: a holder whose renewal request hangs stops writing at the
 * deadline even before its thread notices.
 *
 * The elector should use a client of its own (short request timeout, its
 * own rate limit), so that a burst of writes never delays a renewal.
 *
 * Return convention: 0 or -1.
 */
#ifndef WEIR_OP_LEADER_H
#define WEIR_OP_LEADER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kube/client.h"

#define WEIR_OP_LEASE_DURATION 15.0
#define WEIR_OP_RENEW_DEADLINE 10.0
#define WEIR_OP_RETRY_PERIOD   2.0

/* ---- the pure part ---- */

struct weir_op_lease_record {
    bool exists;
    char holder[256];
    int duration; /* leaseDurationSeconds */
    char acquire_time[48];
    char renew_time[48];
    int transitions;
};

void weir_op_lease_record_parse(const json_t *lease, struct weir_op_lease_record *out);

/* What a candidate last saw and when (monotonic seconds). */
struct weir_op_lease_observer {
    struct weir_op_lease_record seen;
    double at;
    bool valid;
};

enum weir_op_lease_action {
    WEIR_OP_LEASE_CREATE,  /* no Lease yet */
    WEIR_OP_LEASE_RENEW,   /* we hold it */
    WEIR_OP_LEASE_ACQUIRE, /* free or expired: take it */
    WEIR_OP_LEASE_WAIT,    /* another holder's claim stands */
};

const char *weir_op_lease_action_name(enum weir_op_lease_action a);

/* Notes the record in obs (a changed record restarts the clock) and says
 * what to do. */
enum weir_op_lease_action weir_op_lease_decide(const struct weir_op_lease_record *rec,
                                               const char *id, struct weir_op_lease_observer *obs,
                                               double now);

/* The Lease to write for the action: current is the object read (NULL for
 * CREATE); now is a MicroTime ("2026-11-25T10:00:00.123456Z"). NULL when out
 * of memory. */
json_t *weir_op_lease_build(const json_t *current, enum weir_op_lease_action action, const char *ns,
                            const char *name, const char *id, int duration, const char *now);

/* The Lease given up: no holder, 1 s duration. */
json_t *weir_op_lease_release(const json_t *current, const char *now);

/* ---- the elector ---- */

struct weir_op_leader_options {
    struct weir_kube_client *client;
    const char *namespace_;
    const char *name;
    const char *identity;
    double lease_duration; /* 0: 15 s */
    double renew_deadline; /* 0: 10 s */
    double retry_period;   /* 0: 2 s */
    /* Called on the elector's thread when leadership starts (true) or ends. */
    void (*on_change)(void *arg, bool leading);
    void *arg;
};

struct weir_op_leader;

int weir_op_leader_new(const struct weir_op_leader_options *opts, struct weir_op_leader **out);
int weir_op_leader_start(struct weir_op_leader *l);
/* Whether writes are allowed now. */
bool weir_op_leader_is_leader(struct weir_op_leader *l);
/* For struct weir_op_gate. */
bool weir_op_leader_gate(void *leader);
/* Stops the thread; with release, gives the lease up if held. */
void weir_op_leader_stop(struct weir_op_leader *l, bool release);
void weir_op_leader_free(struct weir_op_leader *l);

#endif
