/*
 * cmd_admin.c - `skwebhooks account ...` and `skwebhooks apikey ...`.
 *
 * An API key is printed once, here, and never stored: the database keeps
 * only its keyed hash and a short prefix for display.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../api/validate.h"
#include "../core/err.h"
#include "../sign/sign.h"
#include "cli.h"

static const char account_usage[] =
    "usage: skwebhooks account create NAME [--db URL] [--json]\n"
    "\n"
    "Creates an account and a first API key for it, and prints both.\n"
    "The key is shown only this once; store it safely.\n"
    "\n"
    "  --db URL    database (default $SKWEBHOOKS_DB or " SKW_DEFAULT_DB ")\n"
    "  --json      print {\"account_id\",\"api_key\",\"key_id\"} as one JSON object\n";

static const char apikey_usage[] =
    "usage: skwebhooks apikey create ACCOUNT_ID [--db URL] [--json]\n"
    "       skwebhooks apikey create --platform [--db URL] [--json]\n"
    "       skwebhooks apikey list ACCOUNT_ID [--db URL] [--json]\n"
    "       skwebhooks apikey list --platform [--db URL] [--json]\n"
    "       skwebhooks apikey revoke KEY_ID [--db URL] [--json]\n"
    "\n"
    "Creates, lists and revokes API keys. A platform key manages accounts\n"
    "and acts for any account named in the X-Account-Id header; keep it on\n"
    "SchedulingKit's servers only. A new key is shown only once.\n"
    "\n"
    "  --db URL    database (default $SKWEBHOOKS_DB or " SKW_DEFAULT_DB ")\n"
    "  --json      print the result as one JSON object\n";

/* Creates and stores a key; fills key (the secret, shown once) and rec. */
static int new_key(struct skw_store *s, const char *account_id, char key[SKW_APIKEY_MAX],
		   struct skw_apikey *rec)
{
	unsigned char hash[SKW_KEY_HASH_LEN];

	memset(rec, 0, sizeof(*rec));
	skw_apikey_generate(key);
	skw_apikey_hash(key, hash);
	skw_random_id("key_", rec->id, sizeof(rec->id));
	if (account_id)
		skw_strlcpy(rec->account_id, account_id, sizeof(rec->account_id));
	rec->is_platform = !account_id;
	memcpy(rec->prefix, key, 12);
	rec->prefix[12] = '\0';
	rec->created_at = skw_now_ms();
	return skw_store_apikey_insert(s, rec, hash);
}

static void print_account(json_t *j)
{
	printf("account_id: %s\napi_key:    %s\nkey_id:     %s\n",
	       json_string_value(json_object_get(j, "account_id")),
	       json_string_value(json_object_get(j, "api_key")),
	       json_string_value(json_object_get(j, "key_id")));
	printf("The API key is shown only now; store it safely.\n");
}

int skw_cmd_account(int argc, char **argv)
{
	struct skw_cli c;
	struct skw_account a = {0};
	struct skw_apikey k;
	struct skw_store *s;
	const char *name = NULL, *verb = NULL;
	char key[SKW_APIKEY_MAX];
	int rc;

	skw_cli_init(&c, "skwebhooks account", account_usage);
	for (int i = 1; i < argc; i++) {
		if (skw_cli_common(&c, argc, argv, &i))
			continue;
		if (argv[i][0] == '-')
			skw_cli_usage_error(&c, "unknown option %s", argv[i]);
		if (!verb)
			verb = argv[i];
		else if (!name)
			name = argv[i];
		else
			skw_cli_usage_error(&c, "unexpected argument \"%s\"", argv[i]);
	}
	if (!verb)
		skw_cli_usage_error(&c, "missing subcommand: create");
	if (strcmp(verb, "create"))
		skw_cli_usage_error(&c, "unknown subcommand \"%s\"", verb);
	if (!name)
		skw_cli_usage_error(&c, "missing account NAME");
	{
		struct skw_field_error fe;

		a.name = skw_validate_name("NAME", name, SKW_NAME_MAX_CHARS, &fe);
		if (!a.name)
			skw_cli_usage_error(&c, "%s", fe.message);
	}
	s = skw_cli_open_store(&c);
	skw_random_id("acct_", a.id, sizeof(a.id));
	a.created_at = skw_now_ms();
	rc = skw_store_account_insert(s, &a);
	if (!rc)
		rc = new_key(s, a.id, key, &k);
	skw_store_close(s);
	free(a.name);
	if (rc)
		skw_cli_fail(&c, "cannot create the account: %s", skw_strerror(rc));
	skw_cli_print(
	    &c, json_pack("{s:s, s:s, s:s}", "account_id", a.id, "api_key", key, "key_id", k.id),
	    print_account);
	return 0;
}

static void print_key(json_t *j)
{
	printf("key_id:  %s\napi_key: %s\n", json_string_value(json_object_get(j, "key_id")),
	       json_string_value(json_object_get(j, "api_key")));
	printf("The API key is shown only now; store it safely.\n");
}

static void print_list(json_t *j)
{
	json_t *data = json_object_get(j, "data"), *v;
	size_t i;

	if (!json_array_size(data)) {
		printf("no keys\n");
		return;
	}
	printf("%-32s %-14s %-22s %s\n", "ID", "PREFIX", "CREATED", "REVOKED");
	json_array_foreach(data, i, v)
	{
		json_t *rev = json_object_get(v, "revoked_at");

		printf("%-32s %-14s %-22s %s\n", json_string_value(json_object_get(v, "id")),
		       json_string_value(json_object_get(v, "prefix")),
		       json_string_value(json_object_get(v, "created_at")),
		       json_is_string(rev) ? json_string_value(rev) : "-");
	}
}

static void print_revoked(json_t *j)
{
	printf("revoked %s\n", json_string_value(json_object_get(j, "id")));
}

static json_t *time_json(int64_t ms)
{
	char buf[40];

	if (!ms)
		return json_null();
	skw_time_format(ms, buf, sizeof(buf));
	return json_string(buf);
}

int skw_cmd_apikey(int argc, char **argv)
{
	struct skw_cli c;
	struct skw_store *s;
	const char *verb = NULL, *arg = NULL;
	bool is_platform = false;
	int rc;

	skw_cli_init(&c, "skwebhooks apikey", apikey_usage);
	for (int i = 1; i < argc; i++) {
		if (skw_cli_common(&c, argc, argv, &i))
			continue;
		if (skw_cli_opt(&c, argc, argv, &i, "platform", NULL)) {
			is_platform = true;
			continue;
		}
		if (argv[i][0] == '-')
			skw_cli_usage_error(&c, "unknown option %s", argv[i]);
		if (!verb)
			verb = argv[i];
		else if (!arg)
			arg = argv[i];
		else
			skw_cli_usage_error(&c, "unexpected argument \"%s\"", argv[i]);
	}
	if (!verb)
		skw_cli_usage_error(&c, "missing subcommand: create, list or revoke");
	if (!strcmp(verb, "create") || !strcmp(verb, "list")) {
		if (is_platform == !!arg)
			skw_cli_usage_error(&c, "give either ACCOUNT_ID or --platform");
	} else if (!strcmp(verb, "revoke")) {
		if (!arg || is_platform)
			skw_cli_usage_error(&c, "revoke takes one KEY_ID");
	} else {
		skw_cli_usage_error(&c, "unknown subcommand \"%s\"", verb);
	}
	s = skw_cli_open_store(&c);
	if (!strcmp(verb, "create")) {
		struct skw_apikey k;
		char key[SKW_APIKEY_MAX];
		json_t *j;

		if (arg) {
			struct skw_account a;

			rc = skw_store_account_get(s, arg, &a);
			if (rc)
				skw_cli_fail(&c, "no account %s", arg);
			skw_account_cleanup(&a);
		}
		rc = new_key(s, arg, key, &k);
		skw_store_close(s);
		if (rc)
			skw_cli_fail(&c, "cannot create the key: %s", skw_strerror(rc));
		j = json_pack("{s:s, s:s}", "key_id", k.id, "api_key", key);
		if (arg)
			json_object_set_new(j, "account_id", json_string(arg));
		else
			json_object_set_new(j, "platform", json_true());
		skw_cli_print(&c, j, print_key);
	} else if (!strcmp(verb, "list")) {
		struct skw_apikey *ks = NULL;
		size_t n = 0;
		json_t *data = json_array();

		rc = skw_store_apikey_list(s, arg, &ks, &n);
		skw_store_close(s);
		if (rc)
			skw_cli_fail(&c, "cannot list keys: %s", skw_strerror(rc));
		for (size_t i = 0; i < n; i++)
			json_array_append_new(
			    data, json_pack("{s:s, s:s, s:o, s:o}", "id", ks[i].id, "prefix",
					    ks[i].prefix, "created_at", time_json(ks[i].created_at),
					    "revoked_at", time_json(ks[i].revoked_at)));
		free(ks);
		skw_cli_print(&c, json_pack("{s:o}", "data", data), print_list);
	} else {
		rc = skw_store_apikey_revoke(s, arg, skw_now_ms());
		skw_store_close(s);
		if (rc == SKW_ENOTFOUND)
			skw_cli_fail(&c, "no key %s", arg);
		if (rc)
			skw_cli_fail(&c, "cannot revoke: %s", skw_strerror(rc));
		skw_cli_print(&c, json_pack("{s:s, s:b}", "id", arg, "revoked", 1), print_revoked);
	}
	return 0;
}
