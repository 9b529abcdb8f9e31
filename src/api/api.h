/*
 * api.h - the HTTP front door: JSON API (and, later, the settings pages).
 *
 * libmicrohttpd runs a small pool of threads on epoll, each serving many
 * connections: a handler that waits for the store's group commit or for a
 * test send suspends its connection instead of blocking (internal.h).
 */
#ifndef SKW_API_API_H
#define SKW_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../deliver/engine.h"
#include "../sign/sign.h"
#include "../store/store.h"

struct skw_api_config {
	struct skw_store *store;	   /* borrowed */
	const struct skw_keyring *keyring; /* borrowed */
	struct skw_engine *engine;	   /* borrowed; NULL: no test sends */
	const char *listen;		   /* "127.0.0.1:8080", "[::1]:8080" */
	size_t max_body;		   /* bytes, default 256 KiB */
	bool allow_http;		   /* accept http:// webhook URLs */
	const char *public_url;		   /* base of sign-in links, "https://hooks.example" */
};

struct skw_api;

/* Binds and starts serving. *out is owned by the caller (skw_api_stop). */
int skw_api_start(const struct skw_api_config *c, struct skw_api **out, char *err, size_t err_len);
/* Port actually bound (useful with port 0). */
int skw_api_port(const struct skw_api *a);
/* Stops accepting new connections; requests in flight go on. */
void skw_api_quiesce(struct skw_api *a);
/* Waits up to grace_ms for requests in flight to finish, closes every
 * connection, then frees a. */
void skw_api_stop(struct skw_api *a, int64_t grace_ms);
/* 0 when listen is a HOST:PORT this machine can bind to (resolves only). */
int skw_api_check_listen(const char *listen, char *err, size_t err_len);

#endif
