/*
 * events.h - the catalogue of event names from the help page.
 *
 * The table is constant data; webhook.test is in it but is never
 * subscribable and never reported through the API.
 */
#ifndef SKW_CORE_EVENTS_H
#define SKW_CORE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

struct skw_event_def {
	const char *name;	 /* "booking.created" */
	const char *group;	 /* "Event", "Booking", "Payment", "Webhook" */
	const char *description; /* the help page's one-line description */
};

#define SKW_EVENT_TEST "webhook.test"

/* Borrows: the table of all events, *n set to its length. */
const struct skw_event_def *skw_events_all(size_t *n);
/* True when name may be subscribed to and reported (not webhook.test). */
bool skw_event_is_subscribable(const char *name);

#endif
