/*
 * args.h - the command-line number parsing the benchmark tools share
 * (receiver.c, loadgen.c: each is built from one source file, so this is a
 * header of static functions).
 */
#ifndef SKW_BENCH_ARGS_H
#define SKW_BENCH_ARGS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* A whole-string base-10 number in [min, max], or exit 2 with a message. */
static long long arg_num(const char *s, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "bad number \"%s\" (want %lld..%lld)\n", s, min, max);
		exit(2);
	}
	return v;
}

#endif
