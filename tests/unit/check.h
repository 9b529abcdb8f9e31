/*
 * check.h - the tiny assertion harness of the unit tests. Each test file
 * defines its tests as functions and runs them with RUN(); the binary prints
 * one line per test and exits non-zero when any check failed.
 */
#ifndef SKW_TEST_CHECK_H
#define SKW_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_tests;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *ca_ = (a), *cb_ = (b);                                                 \
		if (!ca_ || !cb_ || strcmp(ca_, cb_)) {                                            \
			fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,           \
				ca_ ? ca_ : "(null)", cb_ ? cb_ : "(null)");                       \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		int before_ = check_failures;                                                      \
		check_tests++;                                                                     \
		fn();                                                                              \
		printf("%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn);               \
	} while (0)

#define CHECK_DONE()                                                                               \
	(printf("%d tests, %d failed checks\n", check_tests, check_failures),                      \
	 check_failures ? EXIT_FAILURE : EXIT_SUCCESS)

#endif
