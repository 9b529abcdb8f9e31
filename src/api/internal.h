/*
 * internal.h - what the API's handlers share: the request being served,
 * reply helpers and the authenticated principal. Not for other modules.
 */
#ifndef SKW_API_INTERNAL_H
#define SKW_API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"

struct skw_api {
	struct skw_api_config cfg;
	struct MHD_Daemon *daemon;
	int port;
	pthread_mutex_t mu; /* guards n_in_flight and n_waiting */
	pthread_cond_t idle;
	size_t n_in_flight; /* requests whose headers arrived and that are not done */
	size_t n_waiting;   /* suspended connections (skw_req_wait) not yet woken */
};

struct skw_principal {
	char key_id[SKW_ID_MAX];		  /* "" for a browser session */
	unsigned char key_hash[SKW_KEY_HASH_LEN]; /* the key's, when key_id is set */
	char account_id[SKW_ID_MAX];		  /* the account acted as ("" when none) */
	bool is_platform;
	bool has_session; /* authenticated by the session cookie */
	unsigned char session_hash[SKW_TOKEN_HASH_LEN];
	int64_t session_expires_at;
};

struct skw_req;
/* A handler's continuation: replies to r (an HTTP thread). */
typedef enum MHD_Result (*skw_reply_fn)(struct skw_req *r);

struct skw_req {
	struct skw_api *api;
	struct MHD_Connection *conn;
	const char *method;
	char path[512];
	char *body;
	size_t body_len;
	size_t body_cap;
	bool is_too_big;
	int64_t started_mono;
	unsigned status; /* of the reply, for the access log */
	struct skw_principal who;

	/* a reply that waits (skw_req_wait): the connection is suspended */
	skw_reply_fn resume;		    /* replies once woken */
	void (*abandon)(struct skw_req *r); /* the request ended unwoken/unreplied */
	void *wait_ctx;			    /* the waiting handler's state */
	char wait_id[SKW_ID_MAX];	    /* a path segment the handler needs */
	/* skw_req_offload: the handler runs on a thread of its own and its
	 * reply is held until the connection is resumed */
	skw_reply_fn offload_fn;
	bool is_held;
	struct MHD_Response *held;
	unsigned held_status;
	enum MHD_Result offload_res;
};

#define SKW_MAX_SEGMENTS 8

/* Reply helpers; each queues the response and returns MHD's result. */
enum MHD_Result skw_reply_json(struct skw_req *r, unsigned status, json_t *body /* stolen */);
enum MHD_Result skw_reply_error(struct skw_req *r, unsigned status, const char *code,
				const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
enum MHD_Result skw_reply_empty(struct skw_req *r, unsigned status);
enum MHD_Result skw_reply_not_found(struct skw_req *r);
enum MHD_Result skw_reply_method(struct skw_req *r, const char *allow);
enum MHD_Result skw_reply_store_error(struct skw_req *r, int rc);

/*
 * Parses the request body as a JSON object (jansson flags added to
 * JSON_REJECT_DUPLICATES). On failure replies (400/415) and returns NULL
 * with *res set; returns owned json_t otherwise.
 */
json_t *skw_req_json(struct skw_req *r, size_t flags, enum MHD_Result *res);
/* Header value or NULL (borrowed from MHD). */
const char *skw_req_header(struct skw_req *r, const char *name);
/* Query argument or NULL (borrowed from MHD). */
const char *skw_req_arg(struct skw_req *r, const char *name);

/* auth.c: authenticates the bearer key and the X-Account-Id header, or the
 * session cookie (plus, for anything but GET/HEAD, the CSRF token and an
 * Origin / Sec-Fetch-Site check); on failure replies and returns false with
 * *res set. need_account: the route acts on one account's data. */
bool skw_auth(struct skw_req *r, bool need_account, enum MHD_Result *res);
/* auth.c: skw_auth for POST /api/v1/events, whose key may come from the
 * store's recent lookups (skw_store_apikey_find_recent): the ingest checks
 * it again (who.key_hash). */
bool skw_auth_event(struct skw_req *r, enum MHD_Result *res);
/* auth.c: 401 with WWW-Authenticate and the reason. */
enum MHD_Result skw_reply_unauthorized(struct skw_req *r, const char *why);
/* auth.c: finds the live session named by the cookie; false when none. */
bool skw_auth_session(struct skw_req *r, struct skw_session *out);

/* pages.c: the settings pages, their assets, sign-in and sign-out. true
 * when the path is one of theirs (and *res holds the reply). */
bool skw_pages_route(struct skw_req *r, enum MHD_Result *res);
/* h_session.c */
enum MHD_Result skw_h_login_links(struct skw_req *r, char **seg, size_t n_seg);
enum MHD_Result skw_h_session(struct skw_req *r, char **seg, size_t n_seg);
enum MHD_Result skw_h_stats(struct skw_req *r, const char *webhook_id);
/* Queues a response with the standard headers (and a CSP for HTML). */
enum MHD_Result skw_reply_queue(struct skw_req *r, unsigned status, struct MHD_Response *resp,
				const char *content_type);

/* Handlers: seg are the path segments after /api/v1/. */
enum MHD_Result skw_h_accounts(struct skw_req *r, char **seg, size_t n_seg);
enum MHD_Result skw_h_webhooks(struct skw_req *r, char **seg, size_t n_seg);
enum MHD_Result skw_h_events(struct skw_req *r, char **seg, size_t n_seg);
enum MHD_Result skw_h_deliveries(struct skw_req *r, const char *webhook_id);
/* POST /webhooks/{id}/test, {id} in r->wait_id; runs on its own thread */
enum MHD_Result skw_h_test(struct skw_req *r);

/*
 * Replies that wait. The HTTP threads are a small pool, each serving many
 * connections, so a handler must not block for long: one that waits for
 * the store or the engine suspends its connection with skw_req_wait and
 * returns MHD_YES; whoever finishes the work calls skw_req_wake (any
 * thread, exactly once), and resume(r) then runs on an HTTP thread and
 * replies. If the request ends without resume having run (the server
 * stopping), abandon(r), when set, releases what the handler holds.
 */
void skw_req_wait(struct skw_req *r, skw_reply_fn resume);
void skw_req_wake(struct skw_req *r);
/* Runs fn(r) on a thread of its own (a test send waits up to the webhook's
 * timeout); its reply is sent when it returns. What fn needs from the path
 * goes in r->wait_id. */
enum MHD_Result skw_req_offload(struct skw_req *r, skw_reply_fn fn);

/* RFC 3339 string or JSON null for 0. */
json_t *skw_json_time(int64_t ms);

#endif
