/*
 * Intrusive circular doubly linked list. Objects that live on a worker (connections,
 * streams, idle upstream connections) carry a link so that shutdown can reach and free
 * every one of them without a registry that would need its own allocation.
 */
#ifndef WP_CORE_LIST_H
#define WP_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct wp_list {
    struct wp_list *prev, *next;
};

static inline void wp_list_init(struct wp_list *l)
{
    l->prev = l->next = l;
}

static inline bool wp_list_empty(const struct wp_list *l)
{
    return l->next == l;
}

/* A link that was initialised and removed can be removed again safely: removal
 * re-initialises it, so teardown paths need not remember whether it was linked. */
static inline bool wp_list_linked(const struct wp_list *l)
{
    return l->next != l;
}

static inline void wp_list_insert_tail(struct wp_list *head, struct wp_list *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void wp_list_insert_head(struct wp_list *head, struct wp_list *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

static inline void wp_list_remove(struct wp_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define wp_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define wp_list_first(head, type, member) \
    (wp_list_empty(head) ? NULL : wp_container_of((head)->next, type, member))

#endif
