/*
 * schedule.c - engine configuration defaults and the retry schedule: the
 * "5s,5m,30m" syntax, jitter, and the Retry-After policy.
 *
 * Owns no state. Invariants: a parsed schedule has 1..SKW_RETRY_MAX_STEPS
 * steps of 0..365 days each; a computed delay is never negative.
 */
#include <string.h>

#include "../core/util.h"
#include "engine.h"
#include "policy.h"

#ifndef SKW_VERSION
#define SKW_VERSION "0"
#endif

/* The default schedule printed by --help: 5s,5m,30m,2h,5h,10h,10h,14h,20h,24h. */
static const int64_t default_schedule[] = {
    5 * 1000LL,		5 * 60 * 1000LL,    30 * 60 * 1000LL,	2 * 3600 * 1000LL,
    5 * 3600 * 1000LL,	10 * 3600 * 1000LL, 10 * 3600 * 1000LL, 14 * 3600 * 1000LL,
    20 * 3600 * 1000LL, 24 * 3600 * 1000LL,
};

void skw_engine_config_defaults(struct skw_engine_config *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->retry_schedule, default_schedule, sizeof(default_schedule));
	c->n_retry_schedule = sizeof(default_schedule) / sizeof(default_schedule[0]);
	c->jitter = 0.2;
	c->max_in_flight = SKW_MAX_IN_FLIGHT;
	c->per_webhook_in_flight = SKW_PER_WEBHOOK_IN_FLIGHT;
	c->batch = 256;
	c->is_worker = true;
	c->user_agent = "skwebhooks/" SKW_VERSION;
}

/*
 * Parses a comma-separated list of durations. Spaces around the items are
 * allowed; an empty item, a bad duration or more than SKW_RETRY_MAX_STEPS
 * items make it fail, leaving c untouched.
 */
bool skw_engine_parse_schedule(struct skw_engine_config *c, const char *s)
{
	int64_t steps[SKW_RETRY_MAX_STEPS];
	size_t n = 0;
	const char *p = s;

	if (!s)
		return false;
	for (;;) {
		char item[32];
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || len >= sizeof(item) || n == SKW_RETRY_MAX_STEPS)
			return false;
		memcpy(item, p, len);
		item[len] = '\0';
		if (!skw_parse_duration(item, &steps[n]))
			return false;
		n++;
		if (!end)
			break;
		p = end + 1;
	}
	memcpy(c->retry_schedule, steps, n * sizeof(steps[0]));
	c->n_retry_schedule = n;
	return true;
}

int64_t skw_schedule_delay(const struct skw_engine_config *c, int attempt, double u)
{
	size_t i;
	int64_t base;
	double jitter = c->jitter;
	double d;

	if (c->n_retry_schedule == 0)
		return 0;
	i = attempt < 1 ? 0 : (size_t)(attempt - 1);
	if (i >= c->n_retry_schedule)
		i = c->n_retry_schedule - 1;
	base = c->retry_schedule[i];
	if (!(jitter > 0)) /* also catches NaN */
		return base;
	if (jitter > 1)
		jitter = 1;
	if (!(u >= 0))
		u = 0;
	if (u > 1)
		u = 1;
	d = (double)base * (1.0 + jitter * (2.0 * u - 1.0));
	return d < 0 ? 0 : (int64_t)(d + 0.5);
}

int64_t skw_schedule_retry_after(int64_t delay_ms, int status_code, int64_t retry_after_s)
{
	int64_t ra;

	if ((status_code != 429 && status_code != 503) || retry_after_s <= 0)
		return delay_ms;
	ra = retry_after_s >= SKW_RETRY_AFTER_CAP_MS / 1000 ? SKW_RETRY_AFTER_CAP_MS
							    : retry_after_s * 1000;
	return ra > delay_ms ? ra : delay_ms;
}

int64_t skw_schedule_next(const struct skw_engine_config *c, int attempt, int max_attempts,
			  int64_t now, int status_code, int64_t retry_after_s, double u)
{
	int64_t delay;

	if (attempt >= max_attempts)
		return 0;
	delay = skw_schedule_delay(c, attempt, u);
	delay = skw_schedule_retry_after(delay, status_code, retry_after_s);
	return now + delay;
}
