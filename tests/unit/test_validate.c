/* test_validate.c - the help page's webhook rules and the event payload. */
#include <curl/curl.h>
#include <sodium.h>

#include "api/payload.h"
#include "api/validate.h"
#include "check.h"

static int apply(const char *json, bool is_create, bool allow_http, struct skw_webhook *w,
		 struct skw_field_error *e)
{
	json_t *j = json_loads(json, 0, NULL);
	int rc;

	if (!j) {
		fprintf(stderr, "bad test JSON %s\n", json);
		return -100;
	}
	memset(e, 0, sizeof(*e));
	rc = skw_validate_webhook(j, is_create, allow_http, w, e);
	json_decref(j);
	return rc;
}

#define BASE "\"name\":\"CRM\",\"url\":\"https://example.com/h\",\"events\":[\"booking.created\"]"

static void expect(const char *json, unsigned status, const char *field)
{
	struct skw_webhook w = {0};
	struct skw_field_error e;
	int rc = apply(json, true, false, &w, &e);

	if (status == 0) {
		if (rc)
			fprintf(stderr, "rejected %s: %s %s\n", json, e.field, e.message);
		CHECK(rc == 0);
	} else {
		if (!rc || e.status != status || strcmp(e.field, field))
			fprintf(stderr, "%s: got rc=%d status=%u field=%s, want %u %s\n", json, rc,
				e.status, e.field, status, field);
		CHECK(rc != 0 && e.status == status && !strcmp(e.field, field));
	}
	skw_webhook_cleanup(&w);
}

static void test_defaults(void)
{
	struct skw_webhook w = {0};
	struct skw_field_error e;

	CHECK(apply("{" BASE "}", true, false, &w, &e) == 0);
	CHECK(w.timeout_s == 30 && w.retry_attempts == 3 && w.is_enabled);
	CHECK_STR(w.name, "CRM");
	CHECK_STR(w.events, "booking.created");
	skw_webhook_cleanup(&w);
}

static void test_boundaries(void)
{
	char name100[128], name101[128], json[512];

	expect("{" BASE ",\"timeout\":0}", 422, "timeout");
	expect("{" BASE ",\"timeout\":1}", 0, NULL);
	expect("{" BASE ",\"timeout\":300}", 0, NULL);
	expect("{" BASE ",\"timeout\":301}", 422, "timeout");
	expect("{" BASE ",\"retry_attempts\":-1}", 422, "retry_attempts");
	expect("{" BASE ",\"retry_attempts\":0}", 0, NULL);
	expect("{" BASE ",\"retry_attempts\":10}", 0, NULL);
	expect("{" BASE ",\"retry_attempts\":11}", 422, "retry_attempts");
	memset(name100, 'n', 100);
	name100[100] = '\0';
	memset(name101, 'n', 101);
	name101[101] = '\0';
	snprintf(json, sizeof(json),
		 "{\"name\":\"%s\",\"url\":\"https://a.example\",\"events\":[\"payment.failed\"]}",
		 name100);
	expect(json, 0, NULL);
	snprintf(json, sizeof(json),
		 "{\"name\":\"%s\",\"url\":\"https://a.example\",\"events\":[\"payment.failed\"]}",
		 name101);
	expect(json, 422, "name");
	/* 100 characters of two bytes each is still 100 characters */
	{
		char utf[256];

		for (int i = 0; i < 100; i++)
			memcpy(utf + 2 * i, "\xc3\xa9", 2);
		utf[200] = '\0';
		snprintf(json, sizeof(json),
			 "{\"name\":\"%s\",\"url\":\"https://"
			 "a.example\",\"events\":[\"event.created\"]}",
			 utf);
		expect(json, 0, NULL);
	}
}

static void test_rules(void)
{
	expect("{\"name\":\"\",\"url\":\"https://a.example\",\"events\":[\"event.created\"]}", 422,
	       "name");
	expect("{\"name\":\"   \",\"url\":\"https://a.example\",\"events\":[\"event.created\"]}",
	       422, "name");
	expect("{\"name\":\"x\",\"url\":\"http://a.example\",\"events\":[\"event.created\"]}", 422,
	       "url");
	expect("{\"name\":\"x\",\"url\":\"https://\",\"events\":[\"event.created\"]}", 422, "url");
	expect("{\"name\":\"x\",\"url\":\"not a url\",\"events\":[\"event.created\"]}", 422, "url");
	expect("{\"name\":\"x\",\"url\":\"ftp://a.example\",\"events\":[\"event.created\"]}", 422,
	       "url");
	expect("{\"name\":\"x\",\"url\":\"https://a.example\",\"events\":[]}", 422, "events");
	expect("{\"name\":\"x\",\"url\":\"https://a.example\",\"events\":[\"nope\"]}", 422,
	       "events");
	expect("{\"name\":\"x\",\"url\":\"https://a.example\",\"events\":[\"webhook.test\"]}", 422,
	       "events");
	expect("{\"name\":\"x\",\"url\":\"https://a.example\"}", 422, "events");
	expect("{" BASE ",\"timeout\":\"30\"}", 400, "timeout");
	expect("{" BASE ",\"timeout\":30.5}", 400, "timeout");
	expect("{" BASE ",\"enabled\":\"yes\"}", 400, "enabled");
	expect("{\"name\":5,\"url\":\"https://a.example\",\"events\":[\"event.created\"]}", 400,
	       "name");
	expect("{\"name\":\"x\",\"url\":\"https://a.example\",\"events\":\"event.created\"}", 400,
	       "events");
	expect("{" BASE ",\"colour\":\"red\"}", 422, "colour");
}

static void test_events_canonical(void)
{
	struct skw_webhook w = {0};
	struct skw_field_error e;

	CHECK(apply("{\"name\":\"x\",\"url\":\"https://a.example\",\"events\":[\"payment.failed\","
		    "\"booking.created\",\"payment.failed\"]}",
		    true, false, &w, &e) == 0);
	CHECK_STR(w.events, "booking.created,payment.failed");
	skw_webhook_cleanup(&w);
}

static void test_url_length_and_http(void)
{
	char url[2100] = "https://a.example/";
	struct skw_field_error e;

	memset(url + 18, 'p', 2048 - 18);
	url[2048] = '\0';
	CHECK(skw_validate_url(url, false, &e) == 0);
	url[2048] = 'p';
	url[2049] = '\0';
	CHECK(skw_validate_url(url, false, &e) != 0);
	CHECK(skw_validate_url("http://127.0.0.1:9/x", true, &e) == 0);
	CHECK(skw_validate_url("http://127.0.0.1:9/x", false, &e) != 0);
}

static void test_patch_keeps_fields(void)
{
	struct skw_webhook w = {0};
	struct skw_field_error e;

	CHECK(apply("{" BASE ",\"timeout\":10}", true, false, &w, &e) == 0);
	CHECK(apply("{\"enabled\":false}", false, false, &w, &e) == 0);
	CHECK(!w.is_enabled && w.timeout_s == 10);
	CHECK_STR(w.url, "https://example.com/h");
	skw_webhook_cleanup(&w);
}

static void test_payload(void)
{
	const char *raw = "{\"event\":\"booking.created\",\"data\":{\"id\":123, \"x\":1.50},"
			  "\"timestamp\":\"2025-01-15T10:30:00Z\"}";
	json_t *req = json_loads(raw, 0, NULL);
	struct skw_payload p = {0};
	struct skw_payload_error e;

	CHECK(skw_payload_build(req, raw, strlen(raw), 0, &p, &e) == 0);
	CHECK_STR(p.body, "{\"event\":\"booking.created\",\"timestamp\":\"2025-01-15T10:30:00Z\","
			  "\"data\":{\"id\":123, \"x\":1.50}}");
	skw_payload_cleanup(&p);
	json_decref(req);

	req = json_loads("{\"event\":\"webhook.test\",\"data\":{}}", 0, NULL);
	CHECK(skw_payload_build(req, NULL, 0, 0, &p, &e) != 0 && !strcmp(e.field, "event"));
	json_decref(req);
	req = json_loads("{\"event\":\"booking.created\",\"data\":[1]}", 0, NULL);
	CHECK(skw_payload_build(req, NULL, 0, 0, &p, &e) != 0 && e.status == 422 &&
	      !strcmp(e.field, "data"));
	json_decref(req);
	req = json_loads("{\"event\":\"booking.created\",\"data\":{},\"timestamp\":\"soon\"}", 0,
			 NULL);
	CHECK(skw_payload_build(req, NULL, 0, 0, &p, &e) != 0 && !strcmp(e.field, "timestamp"));
	json_decref(req);
	req = json_loads("{\"event\":\"booking.created\",\"data\":{}}", 0, NULL);
	CHECK(skw_payload_build(req, NULL, 0, 1736937000000LL, &p, &e) == 0);
	CHECK_STR(p.body, "{\"event\":\"booking.created\",\"timestamp\":\"2025-01-15T10:30:00Z\","
			  "\"data\":{}}");
	skw_payload_cleanup(&p);
	json_decref(req);
}

int main(void)
{
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	RUN(test_defaults);
	RUN(test_boundaries);
	RUN(test_rules);
	RUN(test_events_canonical);
	RUN(test_url_length_and_http);
	RUN(test_patch_keeps_fields);
	RUN(test_payload);
	curl_global_cleanup();
	return CHECK_DONE();
}
