/*
 * cli.h - what the subcommands share: option parsing, opening the store,
 * printing results as text or one JSON object, and usage errors.
 */
#ifndef SKW_CLI_CLI_H
#define SKW_CLI_CLI_H

#include <stdbool.h>

#include <jansson.h>

#include "../store/store.h"

#define SKW_DEFAULT_DB "sqlite:./var/skwebhooks.db"
#define SKW_DEFAULT_KEY_FILE "./var/skwebhooks.key"
#define SKW_DEFAULT_LISTEN "127.0.0.1:8080"

struct skw_cli {
	const char *prog;  /* "skwebhooks account create" */
	const char *usage; /* the --help text */
	const char *db;
	const char *key_file;
	bool is_json;
};

/* Sets db/key_file from the environment or the defaults. */
void skw_cli_init(struct skw_cli *c, const char *prog, const char *usage);

/*
 * Matches argv[*i] against --name (flag: val NULL) or --name VALUE /
 * --name=VALUE; advances *i past a separate value. Exits with a usage error
 * when the value is missing.
 */
bool skw_cli_opt(struct skw_cli *c, int argc, char **argv, int *i, const char *name,
		 const char **val);
/* Handles --db, --key-file, --json, --help; true when argv[*i] was one. */
bool skw_cli_common(struct skw_cli *c, int argc, char **argv, int *i);

/* Prints "PROG: message" and a hint to stderr, exits 2. */
void skw_cli_usage_error(const struct skw_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Prints "PROG: message" to stderr, exits 1. */
void skw_cli_fail(const struct skw_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Opens the store or exits 1 with the reason. Returns owned. */
struct skw_store *skw_cli_open_store(const struct skw_cli *c);

/* Prints j as one line of JSON (--json) or with text(j) otherwise; steals j. */
void skw_cli_print(const struct skw_cli *c, json_t *j, void (*text)(json_t *j));

int skw_cmd_serve(int argc, char **argv);
int skw_cmd_account(int argc, char **argv);
int skw_cmd_apikey(int argc, char **argv);
int skw_cmd_emit(int argc, char **argv);
int skw_cmd_login_link(int argc, char **argv);

#endif
