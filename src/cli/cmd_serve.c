/*
 * cmd_serve.c - `skwebhooks serve`: opens the store and the keyring, starts
 * the delivery engine and the HTTP server, and shuts down gracefully on
 * SIGTERM/SIGINT (stop accepting, finish requests in flight, let attempts in
 * flight finish within the grace period, release the rest, exit 0).
 *
 * Signals are blocked in every thread and taken synchronously with sigwait
 * here, so no handler runs in a random thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../api/api.h"
#include "../core/err.h"
#include "../core/log.h"
#include "cli.h"

static const char usage[] =
    "usage: skwebhooks serve [options]\n"
    "\n"
    "Runs the API, the settings pages and the delivery engine.\n"
    "\n"
    "  --listen HOST:PORT       where to listen (default $SKWEBHOOKS_LISTEN or " SKW_DEFAULT_LISTEN
    ")\n"
    "  --db URL                 database (default $SKWEBHOOKS_DB or " SKW_DEFAULT_DB ")\n"
    "  --key-file PATH          key that encrypts signing secrets; created (0600) on first\n"
    "                           start (default $SKWEBHOOKS_KEY_FILE or " SKW_DEFAULT_KEY_FILE ").\n"
    "                           $SKWEBHOOKS_SECRET_KEY (base64 of 32 bytes) replaces it\n"
    "  --public-url URL         how users reach this service, the base of sign-in links\n"
    "                           (default http://LISTEN); https:// makes cookies Secure\n"
    "  --retry-schedule LIST    delays before each retry, e.g. 5s,5m,30m (default\n"
    "                           5s,5m,30m,2h,5h,10h,10h,14h,20h,24h, each +-20%% jitter)\n"
    "  --ca-file PEM            extra CA certificates trusted for receivers, besides\n"
    "                           the system's (read at start)\n"
    "  --max-body BYTES         largest request body accepted (default 262144)\n"
    "  --shutdown-grace DUR     how long attempts in flight may finish on shutdown (10s)\n"
    "  --max-in-flight N        deliveries held at once: requests open plus results\n"
    "                           not yet written (default 10000)\n"
    "  --per-webhook-in-flight N  deliveries one webhook holds: committing or open\n"
    "                           requests (default 128)\n"
    "  --role all|api|worker    api: answer HTTP, never claim deliveries; worker: claim\n"
    "                           and send deliveries (HTTP still answers, e.g. /healthz);\n"
    "                           all: both (default)\n"
    "  --node-id NAME           this node's name on its delivery leases (PostgreSQL);\n"
    "                           unique per node, stable across restarts (default:\n"
    "                           hostname plus a random suffix)\n"
    "  --lease-margin DUR       a claimed delivery is leased for its webhook's timeout\n"
    "                           plus this (default 60s); after a node dies, others take\n"
    "                           its deliveries over when their leases run out\n"
    "  --log-retention DUR      how long the delivery log and events are kept (30d)\n"
    "  --log-level LEVEL        debug, info, warn or error (default info)\n"
    "  --allow-http             UNSAFE outside tests: accept and send to http:// URLs\n"
    "  --allow-net CIDR         UNSAFE outside tests: let the sender reach this range\n"
    "                           (e.g. 127.0.0.0/8); repeatable\n"
    "  --unsafe-no-fsync        do not fsync commits (benchmarks only: loses data on crash)\n";

static void parse_size(struct skw_cli *c, const char *opt, const char *v, long long min,
		       long long max, size_t *out)
{
	long long n;

	if (!skw_parse_int(v, min, max, &n))
		skw_cli_usage_error(c, "--%s must be an integer from %lld to %lld", opt, min, max);
	*out = (size_t)n;
}

/* Node ids go into the database and the logs: keep them plain. */
static bool valid_node_id(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 64)
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	}
	return true;
}

/* "<hostname>-<8 random characters>": unique, so two nodes on one machine
 * never release each other's leases. */
static const char *default_node_id(char *buf, size_t len)
{
	char host[64] = "node", rnd[SKW_ID_MAX];

	if (gethostname(host, sizeof(host) - 1) || !valid_node_id(host))
		skw_strlcpy(host, "node", sizeof(host));
	host[40] = '\0';
	skw_random_id("", rnd, sizeof(rnd));
	snprintf(buf, len, "%s-%.8s", host, rnd);
	return buf;
}

int skw_cmd_serve(int argc, char **argv)
{
	struct skw_cli c;
	struct skw_engine_config ec;
	struct skw_api_config ac = {0};
	struct skw_store_options so = {.is_durable = true};
	struct skw_keyring *kr = NULL;
	struct skw_store *store = NULL;
	struct skw_engine *engine = NULL;
	struct skw_api *api = NULL;
	const char *listen = getenv("SKWEBHOOKS_LISTEN");
	const char *v = NULL;
	char err[512] = "";
	char default_public[300];
	int64_t grace = 10000;
	int64_t retention = 30LL * 86400 * 1000;
	const char *role = "all";
	char node_buf[128];
	sigset_t sigs;
	int sig = 0, rc;

	skw_cli_init(&c, "skwebhooks serve", usage);
	skw_engine_config_defaults(&ec);
	ac.max_body = 256 * 1024;
	if (!listen || !*listen)
		listen = SKW_DEFAULT_LISTEN;
	for (int i = 1; i < argc; i++) {
		if (skw_cli_common(&c, argc, argv, &i) ||
		    skw_cli_opt(&c, argc, argv, &i, "listen", &listen))
			continue;
		if (skw_cli_opt(&c, argc, argv, &i, "allow-http", NULL)) {
			ac.allow_http = ec.allow_http = true;
		} else if (skw_cli_opt(&c, argc, argv, &i, "allow-net", &v)) {
			if (skw_guard_allow(&ec.guard, v))
				skw_cli_usage_error(&c, "--allow-net: \"%s\" is not a CIDR range",
						    v);
		} else if (skw_cli_opt(&c, argc, argv, &i, "public-url", &v)) {
			if (strncmp(v, "https://", 8) && strncmp(v, "http://", 7))
				skw_cli_usage_error(&c, "--public-url must start with https:// or "
							"http://");
			ac.public_url = v;
		} else if (skw_cli_opt(&c, argc, argv, &i, "ca-file", &v)) {
			ec.ca_file = v;
		} else if (skw_cli_opt(&c, argc, argv, &i, "retry-schedule", &v)) {
			if (!skw_engine_parse_schedule(&ec, v))
				skw_cli_usage_error(&c,
						    "--retry-schedule must look like 5s,5m,30m "
						    "(at most %d steps)",
						    SKW_RETRY_MAX_STEPS);
		} else if (skw_cli_opt(&c, argc, argv, &i, "max-body", &v)) {
			parse_size(&c, "max-body", v, 1024, 64 * 1024 * 1024, &ac.max_body);
		} else if (skw_cli_opt(&c, argc, argv, &i, "max-in-flight", &v)) {
			parse_size(&c, "max-in-flight", v, 1, 100000, &ec.max_in_flight);
		} else if (skw_cli_opt(&c, argc, argv, &i, "per-webhook-in-flight", &v)) {
			parse_size(&c, "per-webhook-in-flight", v, 1, 10000,
				   &ec.per_webhook_in_flight);
		} else if (skw_cli_opt(&c, argc, argv, &i, "shutdown-grace", &v)) {
			if (!skw_parse_duration(v, &grace))
				skw_cli_usage_error(&c,
						    "--shutdown-grace must be a duration like 10s");
		} else if (skw_cli_opt(&c, argc, argv, &i, "log-retention", &v)) {
			if (!skw_parse_duration(v, &retention) || retention < 3600 * 1000)
				skw_cli_usage_error(&c, "--log-retention must be a duration of at "
							"least 1h, like 30d");
		} else if (skw_cli_opt(&c, argc, argv, &i, "log-level", &v)) {
			if (!strcmp(v, "debug"))
				skw_log_set_level(SKW_LOG_DEBUG);
			else if (!strcmp(v, "info"))
				skw_log_set_level(SKW_LOG_INFO);
			else if (!strcmp(v, "warn"))
				skw_log_set_level(SKW_LOG_WARN);
			else if (!strcmp(v, "error"))
				skw_log_set_level(SKW_LOG_ERROR);
			else
				skw_cli_usage_error(
				    &c, "--log-level must be debug, info, warn or error");
		} else if (skw_cli_opt(&c, argc, argv, &i, "role", &role)) {
			if (strcmp(role, "all") && strcmp(role, "api") && strcmp(role, "worker"))
				skw_cli_usage_error(&c, "--role must be all, api or worker");
		} else if (skw_cli_opt(&c, argc, argv, &i, "node-id", &ec.node_id)) {
			if (!valid_node_id(ec.node_id))
				skw_cli_usage_error(&c,
						    "--node-id must be 1 to 64 letters, digits, "
						    "'.', '_' or '-'");
		} else if (skw_cli_opt(&c, argc, argv, &i, "lease-margin", &v)) {
			if (!skw_parse_duration(v, &ec.lease_margin_ms) ||
			    ec.lease_margin_ms < 1000)
				skw_cli_usage_error(&c, "--lease-margin must be a duration of at "
							"least 1s, like 60s");
		} else if (skw_cli_opt(&c, argc, argv, &i, "unsafe-no-fsync", NULL)) {
			so.is_durable = false;
		} else {
			skw_cli_usage_error(&c, "unknown argument %s", argv[i]);
		}
	}

	if (!ac.public_url) {
		snprintf(default_public, sizeof(default_public), "http://%s", listen);
		ac.public_url = default_public;
	}
	if (skw_api_check_listen(listen, err, sizeof(err)))
		skw_cli_usage_error(&c, "%s", err);
	if (ec.ca_file && access(ec.ca_file, R_OK))
		skw_cli_usage_error(&c, "--ca-file %s cannot be read: %s", ec.ca_file,
				    strerror(errno));

	/* Block the shutdown signals before any thread exists. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = skw_keyring_load(c.key_file, getenv("SKWEBHOOKS_SECRET_KEY"), &kr, err, sizeof(err));
	if (rc)
		skw_cli_fail(&c, "%s", err[0] ? err : "cannot load the secret key");
	so.url = c.db;
	rc = skw_store_open(&so, &store, err, sizeof(err));
	if (rc)
		skw_cli_fail(&c, "cannot open the database: %s", err[0] ? err : skw_strerror(rc));
	ec.store = store;
	ec.keyring = kr;
	ec.is_worker = strcmp(role, "api") != 0;
	if (!ec.node_id && skw_store_is_shared(store))
		ec.node_id = default_node_id(node_buf, sizeof(node_buf));
	rc = skw_engine_start(&ec, &engine);
	if (rc)
		skw_cli_fail(&c, "cannot start the delivery engine: %s", skw_strerror(rc));
	ac.store = store;
	ac.keyring = kr;
	ac.engine = engine;
	ac.listen = listen;
	rc = skw_api_start(&ac, &api, err, sizeof(err));
	if (rc) {
		skw_engine_stop(engine, 0);
		skw_cli_fail(&c, "%s", err);
	}
	skw_info("serve listening=%s port=%d db=%s role=%s node=%s version=%s%s%s", listen,
		 skw_api_port(api), strncmp(c.db, "sqlite:", 7) ? "(postgres)" : c.db, role,
		 ec.node_id ? ec.node_id : "(single)", SKW_VERSION,
		 ac.allow_http ? " UNSAFE allow_http=1" : "",
		 ec.guard.n_allow ? " UNSAFE allow_net=1" : "");

	/* The main thread waits for a signal and does the housekeeping. */
	for (int64_t next_gc = 0;;) {
		struct timespec tick = {.tv_sec = 30};

		if (skw_mono_ms() >= next_gc) {
			rc = skw_store_maintain(store, skw_now_ms(), retention);
			if (rc)
				skw_warn("serve housekeeping failed: %s", skw_strerror(rc));
			next_gc = skw_mono_ms() + 10 * 60 * 1000;
		}
		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	skw_info("serve shutting down signal=%s grace_ms=%lld", sig == SIGTERM ? "TERM" : "INT",
		 (long long)grace);
	skw_api_quiesce(api);
	skw_api_stop(api, grace);
	skw_engine_stop(engine, grace);
	skw_store_close(store);
	skw_keyring_free(kr);
	skw_info("serve stopped");
	return 0;
}
