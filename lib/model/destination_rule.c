#include "model/destination_rule.h"

#include <stdlib.h>
#include <string.h>

static const char *const dr_fields[] = {"host",     "trafficPolicy",    "subsets",
                                        "exportTo", "workloadSelector", NULL};
static const char *const dr_unsupported[] = {"workloadSelector", NULL};
static const char *const subset_fields[] = {"name", "labels", "trafficPolicy", NULL};

static void parse_subset(struct weir_check *c, const json_t *v, struct weir_destination_rule *dr,
                         size_t index)
{
    struct weir_subset *s = &dr->subsets[index];
    const char *why;

    if (!weir_check_is_object(c, v))
        return;
    weir_check_fields(c, v, subset_fields, NULL);
    if (weir_get_string(c, v, "name", true, &s->name)) {
        const json_t *node = json_object_get(v, "name");
        weir_check_push_key(c, "name");
        if ((why = weir_valid_dns1123_label(s->name))) {
            weir_check_error(c, node, "invalid subset name \"%s\": %s", s->name, why);
        } else {
            for (size_t j = 0; j < index; j++) {
                if (dr->subsets[j].name && strcmp(dr->subsets[j].name, s->name) == 0) {
                    weir_check_error(c, node, "subset name \"%s\" is defined twice", s->name);
                    break;
                }
            }
        }
        weir_check_pop(c);
    }
    weir_get_string_map(c, v, "labels", false, weir_valid_label_key, weir_valid_label_value,
                        &s->labels);
    weir_traffic_policy_get(c, v, "trafficPolicy", &s->traffic_policy);
}

struct weir_destination_rule *weir_destination_rule_parse(struct weir_check *c, const json_t *spec)
{
    struct weir_destination_rule *dr = calloc(1, sizeof(*dr));
    const json_t *arr;
    size_t i;
    json_t *item;

    if (!dr)
        return NULL;
    weir_check_fields(c, spec, dr_fields, dr_unsupported);
    if (weir_get_string(c, spec, "host", true, &dr->host)) {
        const char *why = weir_valid_host(dr->host);
        if (why) {
            weir_check_push_key(c, "host");
            weir_check_error(c, json_object_get(spec, "host"), "%s, got \"%s\"", why, dr->host);
            weir_check_pop(c);
        }
    }
    weir_traffic_policy_get(c, spec, "trafficPolicy", &dr->traffic_policy);

    arr = weir_check_get(c, spec, "subsets", JSON_ARRAY, false);
    if (arr && (dr->subsets = weir_net_calloc(c, json_array_size(arr), sizeof(*dr->subsets)))) {
        dr->n_subsets = json_array_size(arr);
        weir_check_push_key(c, "subsets");
        json_array_foreach(arr, i, item)
        {
            weir_check_push_index(c, i);
            parse_subset(c, item, dr, i);
            weir_check_pop(c);
        }
        weir_check_pop(c);
    }

    weir_net_get_export_to(c, spec, false, &dr->export_to);
    weir_get_workload_selector(c, spec, "workloadSelector", &dr->workload_selector);
    dr->has_workload_selector = json_is_object(json_object_get(spec, "workloadSelector"));
    /* A rule scoped to some workloads of this namespace means nothing elsewhere. */
    if (dr->has_workload_selector && weir_strings_contains(&dr->export_to, "*")) {
        weir_check_push_key(c, "exportTo");
        weir_check_error(c, json_object_get(spec, "exportTo"),
                         "a DestinationRule with a workloadSelector cannot be exported to other "
                         "namespaces");
        weir_check_pop(c);
    }
    return dr;
}

void weir_destination_rule_free(struct weir_destination_rule *dr)
{
    if (!dr)
        return;
    free(dr->host);
    weir_traffic_policy_free(dr->traffic_policy);
    for (size_t i = 0; i < dr->n_subsets; i++) {
        free(dr->subsets[i].name);
        weir_string_map_free(&dr->subsets[i].labels);
        weir_traffic_policy_free(dr->subsets[i].traffic_policy);
    }
    free(dr->subsets);
    weir_strings_free(&dr->export_to);
    weir_string_map_free(&dr->workload_selector);
    free(dr);
}
