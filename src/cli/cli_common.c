/*
 * cli_common.c - see cli.h. Messages go to stderr as one line; results to
 * stdout, as text for people or one JSON object with --json for scripts.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void skw_cli_init(struct skw_cli *c, const char *prog, const char *usage)
{
	const char *db = getenv("SKWEBHOOKS_DB");
	const char *kf = getenv("SKWEBHOOKS_KEY_FILE");

	memset(c, 0, sizeof(*c));
	c->prog = prog;
	c->usage = usage;
	c->db = db && *db ? db : SKW_DEFAULT_DB;
	c->key_file = kf && *kf ? kf : SKW_DEFAULT_KEY_FILE;
}

void skw_cli_usage_error(const struct skw_cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see '%s --help')\n", c->prog);
	exit(2);
}

void skw_cli_fail(const struct skw_cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

bool skw_cli_opt(struct skw_cli *c, int argc, char **argv, int *i, const char *name,
		 const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, "--", 2) || strncmp(a + 2, name, n))
		return false;
	if (a[2 + n] == '\0') {
		if (!val)
			return true;
		if (*i + 1 >= argc)
			skw_cli_usage_error(c, "--%s needs a value", name);
		*val = argv[++*i];
		return true;
	}
	if (a[2 + n] == '=' && val) {
		*val = a + 3 + n;
		return true;
	}
	return false;
}

bool skw_cli_common(struct skw_cli *c, int argc, char **argv, int *i)
{
	if (skw_cli_opt(c, argc, argv, i, "db", &c->db) ||
	    skw_cli_opt(c, argc, argv, i, "key-file", &c->key_file))
		return true;
	if (skw_cli_opt(c, argc, argv, i, "json", NULL)) {
		c->is_json = true;
		return true;
	}
	if (skw_cli_opt(c, argc, argv, i, "help", NULL) || !strcmp(argv[*i], "-h")) {
		fputs(c->usage, stdout);
		exit(0);
	}
	return false;
}

struct skw_store *skw_cli_open_store(const struct skw_cli *c)
{
	struct skw_store_options o = {.url = c->db, .is_durable = true};
	struct skw_store *s = NULL;
	char err[512] = "";
	int rc = skw_store_open(&o, &s, err, sizeof(err));

	if (rc)
		/* a PostgreSQL URL may hold a password: name only SQLite paths */
		skw_cli_fail(c, "cannot open database %s: %s",
			     strncmp(c->db, "sqlite:", 7) ? "(postgres)" : c->db,
			     err[0] ? err : "error");
	return s;
}

void skw_cli_print(const struct skw_cli *c, json_t *j, void (*text)(json_t *j))
{
	if (c->is_json || !text) {
		char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

		if (s)
			puts(s);
		free(s);
	} else {
		text(j);
	}
	json_decref(j);
	fflush(stdout);
}
