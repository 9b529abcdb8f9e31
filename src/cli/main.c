/*
 * main.c - the skwebhooks command: dispatches to one subcommand per file.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "../core/metrics.h"
#include "cli.h"

static const char usage[] =
    "usage: skwebhooks COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  serve                       run the API, the pages and the delivery engine\n"
    "  account create NAME         create an account and its first API key\n"
    "  apikey create|list|revoke   manage API keys (--platform for the platform key)\n"
    "  emit EVENT --account ID --data @file.json   report an event\n"
    "  login-link ACCOUNT_ID       a one-time sign-in link to the settings pages\n"
    "  version                     print the version\n"
    "\n"
    "Run 'skwebhooks COMMAND --help' for a command's options.\n";

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	skw_metrics_init();
	if (sodium_init() < 0) {
		fputs("skwebhooks: libsodium failed to initialise\n", stderr);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fputs("skwebhooks: libcurl failed to initialise\n", stderr);
		return 1;
	}
	if (!cmd) {
		fputs("skwebhooks: missing command (see 'skwebhooks --help')\n", stderr);
		return 2;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("skwebhooks %s\n", SKW_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "serve"))
		return skw_cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "account"))
		return skw_cmd_account(argc - 1, argv + 1);
	if (!strcmp(cmd, "apikey"))
		return skw_cmd_apikey(argc - 1, argv + 1);
	if (!strcmp(cmd, "emit"))
		return skw_cmd_emit(argc - 1, argv + 1);
	if (!strcmp(cmd, "login-link"))
		return skw_cmd_login_link(argc - 1, argv + 1);
	fprintf(stderr, "skwebhooks: unknown command \"%s\" (see 'skwebhooks --help')\n", cmd);
	return 2;
}
