/*
 * cmd_login.c - `skwebhooks login-link ACCOUNT_ID`: prints a one-time
 * sign-in link to the settings pages (valid 15 minutes, one use).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/session.h"
#include "../core/err.h"
#include "cli.h"

static const char usage[] =
    "usage: skwebhooks login-link ACCOUNT_ID [--base-url URL] [--db URL] [--json]\n"
    "\n"
    "Prints a sign-in link to the account's Settings -> Webhooks pages. It is valid\n"
    "for 15 minutes and for one use.\n"
    "\n"
    "  --base-url URL   how the browser reaches the service (default $SKWEBHOOKS_PUBLIC_URL\n"
    "                   or http://" SKW_DEFAULT_LISTEN ")\n";

static void print_link(json_t *j)
{
	printf("%s\n(valid until %s, one use)\n", json_string_value(json_object_get(j, "url")),
	       json_string_value(json_object_get(j, "expires_at")));
}

int skw_cmd_login_link(int argc, char **argv)
{
	struct skw_cli c;
	struct skw_account a;
	struct skw_store *s;
	const char *account = NULL, *base = getenv("SKWEBHOOKS_PUBLIC_URL");
	char url[2200], when[40];
	int64_t expires_at;
	int rc;

	skw_cli_init(&c, "skwebhooks login-link", usage);
	if (!base || !*base)
		base = "http://" SKW_DEFAULT_LISTEN;
	for (int i = 1; i < argc; i++) {
		if (skw_cli_common(&c, argc, argv, &i) ||
		    skw_cli_opt(&c, argc, argv, &i, "base-url", &base))
			continue;
		if (argv[i][0] == '-')
			skw_cli_usage_error(&c, "unknown option %s", argv[i]);
		if (account)
			skw_cli_usage_error(&c, "unexpected argument \"%s\"", argv[i]);
		account = argv[i];
	}
	if (!account)
		skw_cli_usage_error(&c, "missing ACCOUNT_ID");
	if (strncmp(base, "https://", 8) && strncmp(base, "http://", 7))
		skw_cli_usage_error(&c, "--base-url must start with https:// or http://");
	s = skw_cli_open_store(&c);
	rc = skw_store_account_get(s, account, &a);
	if (rc) {
		skw_store_close(s);
		skw_cli_fail(&c, "no account %s", account);
	}
	skw_account_cleanup(&a);
	rc = skw_login_link_create(s, account, base, url, sizeof(url), &expires_at);
	skw_store_close(s);
	if (rc)
		skw_cli_fail(&c, "cannot create the link: %s", skw_strerror(rc));
	skw_time_format(expires_at, when, sizeof(when));
	skw_cli_print(&c, json_pack("{s:s, s:s}", "url", url, "expires_at", when), print_link);
	return 0;
}
