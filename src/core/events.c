/* events.c - the help page's event table, verbatim. */
#include "events.h"

#include <string.h>

static const struct skw_event_def events[] = {
    {"event.created", "Event", "A new event/booking is created"},
    {"event.updated", "Event", "An event is updated (details changed)"},
    {"event.cancelled", "Event", "An event is cancelled"},
    {"event.rescheduled", "Event", "An event is rescheduled to a new time"},
    {"event.reminder", "Event", "A reminder is triggered before the event"},
    {"event.follow_up", "Event", "A follow-up is triggered after the event"},
    {"booking.created", "Booking", "A booking is created (customer side)"},
    {"booking.confirmed", "Booking", "A booking is confirmed"},
    {"booking.cancelled", "Booking", "A booking is cancelled"},
    {"payment.completed", "Payment", "A payment is successfully processed"},
    {"payment.failed", "Payment", "A payment attempt failed"},
    {"payment.refunded", "Payment", "A payment is refunded"},
    {"webhook.test", "Webhook", "Test event for verifying your endpoint"},
};

const struct skw_event_def *skw_events_all(size_t *n)
{
	*n = sizeof(events) / sizeof(events[0]);
	return events;
}

bool skw_event_is_subscribable(const char *name)
{
	for (size_t i = 0; i + 1 < sizeof(events) / sizeof(events[0]); i++)
		if (!strcmp(events[i].name, name))
			return true;
	return false;
}
