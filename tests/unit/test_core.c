/* test_core.c - time parsing and formatting, ids, durations, the raw JSON
 * member scanner. */
#include <sodium.h>

#include "check.h"
#include "core/events.h"
#include "core/json.h"
#include "core/util.h"

static void test_time_roundtrip(void)
{
	int64_t ms = 0;
	char buf[40];

	CHECK(skw_time_parse("2025-01-15T10:30:00Z", &ms));
	CHECK(ms == 1736937000000LL);
	skw_time_format(ms, buf, sizeof(buf));
	CHECK_STR(buf, "2025-01-15T10:30:00Z");
	CHECK(skw_time_parse("2025-01-15T12:30:00.250+02:00", &ms));
	CHECK(ms == 1736937000250LL);
	skw_time_format_ms(ms, buf, sizeof(buf));
	CHECK_STR(buf, "2025-01-15T10:30:00.250Z");
	CHECK(skw_time_parse("1970-01-01T00:00:00Z", &ms) && ms == 0);
	CHECK(skw_time_parse("2024-02-29T00:00:00Z", &ms));
}

static void test_time_rejects(void)
{
	static const char *const bad[] = {
	    "",
	    "2025-01-15",
	    "2025-01-15 10:30:00Z",
	    "2025-13-01T00:00:00Z",
	    "2025-02-29T00:00:00Z",
	    "2025-01-15T24:00:00Z",
	    "2025-01-15T10:30:00",
	    "2025-01-15T10:30:00+0200",
	    "2025-01-15T10:30:00.Z",
	    "yesterday",
	    "2025-01-15T10:30:00Zjunk",
	    "2025-01-32T00:00:00Z",
	};
	int64_t ms;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool ok = skw_time_parse(bad[i], &ms);

		if (ok)
			fprintf(stderr, "accepted bad time \"%s\"\n", bad[i]);
		CHECK(!ok);
	}
}

static void test_random_id(void)
{
	char a[SKW_ID_MAX], b[SKW_ID_MAX];

	skw_random_id("wh_", a, sizeof(a));
	skw_random_id("wh_", b, sizeof(b));
	CHECK(strlen(a) == 3 + 26);
	CHECK(!strncmp(a, "wh_", 3));
	CHECK(strcmp(a, b) != 0);
	for (size_t i = 3; i < strlen(a); i++)
		CHECK(strchr("abcdefghijklmnopqrstuvwxyz234567", a[i]) != NULL);
}

/* Later ids sort after earlier ones, also across a carry of the time
 * digits and between digits and letters; the format stays skw_random_id's. */
static void test_sorted_id(void)
{
	static const int64_t times[] = {0,
					31,
					32,
					1023,
					1024,
					1700000000000LL,
					1700000000001LL,
					1767225600000LL,
					4102444800000LL};
	char prev[SKW_ID_MAX] = "", a[SKW_ID_MAX], b[SKW_ID_MAX];

	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		skw_sorted_id("dlv_", times[i], a, sizeof(a));
		CHECK(strlen(a) == 4 + 26);
		CHECK(!strncmp(a, "dlv_", 4));
		for (size_t k = 4; k < strlen(a); k++)
			CHECK(strchr("abcdefghijklmnopqrstuvwxyz234567", a[k]) != NULL);
		CHECK(strcmp(prev, a) < 0);
		skw_strlcpy(prev, a, sizeof(prev));
	}
	/* the same millisecond: still unique (85 random bits) */
	skw_sorted_id("evt_", 1700000000000LL, a, sizeof(a));
	skw_sorted_id("evt_", 1700000000000LL, b, sizeof(b));
	CHECK(!strncmp(a, b, 4 + 9));
	CHECK(strcmp(a, b) != 0);
	/* too small a buffer: empty, as skw_random_id */
	skw_sorted_id("evt_", 1, a, 10);
	CHECK(a[0] == '\0');
}

static void test_durations(void)
{
	int64_t ms;

	CHECK(skw_parse_duration("5s", &ms) && ms == 5000);
	CHECK(skw_parse_duration("250ms", &ms) && ms == 250);
	CHECK(skw_parse_duration("5m", &ms) && ms == 300000);
	CHECK(skw_parse_duration("2h", &ms) && ms == 7200000);
	CHECK(skw_parse_duration("1d", &ms) && ms == 86400000);
	CHECK(!skw_parse_duration("", &ms));
	CHECK(!skw_parse_duration("-5s", &ms));
	CHECK(!skw_parse_duration("5x", &ms));
	CHECK(!skw_parse_duration("s", &ms));
}

static void test_parse_int(void)
{
	long long v;

	CHECK(skw_parse_int("42", 0, 100, &v) && v == 42);
	CHECK(!skw_parse_int("101", 0, 100, &v));
	CHECK(!skw_parse_int("4x", 0, 100, &v));
	CHECK(!skw_parse_int(" 4", 0, 100, &v));
	CHECK(!skw_parse_int("", 0, 100, &v));
}

static void test_raw_member(void)
{
	const char *doc = "{ \"event\" : \"x\", \"data\" : {\"a\": [1, 2.50, \"}\\\"\"]} , "
			  "\"timestamp\":\"t\"}";
	const char *v;
	size_t n;

	CHECK(skw_json_raw_member(doc, strlen(doc), "data", &v, &n));
	CHECK(n == strlen("{\"a\": [1, 2.50, \"}\\\"\"]}"));
	CHECK(!strncmp(v, "{\"a\": [1, 2.50, \"}\\\"\"]}", n));
	CHECK(skw_json_raw_member(doc, strlen(doc), "timestamp", &v, &n) && n == 3);
	CHECK(!skw_json_raw_member(doc, strlen(doc), "missing", &v, &n));
	CHECK(!skw_json_raw_member("[1]", 3, "data", &v, &n));
	CHECK(!skw_json_raw_member("{\"data\":", 8, "data", &v, &n));
	CHECK(!skw_json_raw_member("{\"data\":{\"a\":1", 14, "data", &v, &n));
}

static void test_events(void)
{
	size_t n;
	const struct skw_event_def *all = skw_events_all(&n);

	CHECK(n == 13);
	CHECK_STR(all[n - 1].name, "webhook.test");
	CHECK(skw_event_is_subscribable("booking.created"));
	CHECK(skw_event_is_subscribable("payment.refunded"));
	CHECK(!skw_event_is_subscribable("webhook.test"));
	CHECK(!skw_event_is_subscribable("booking.deleted"));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_time_roundtrip);
	RUN(test_time_rejects);
	RUN(test_random_id);
	RUN(test_sorted_id);
	RUN(test_durations);
	RUN(test_parse_int);
	RUN(test_raw_member);
	RUN(test_events);
	return CHECK_DONE();
}
