/*
 * args.h - the command-line number parsing the benchmark tools share
 * (receiver.c, loadgen.c: each is built from one source file, so this is a
 * header of static inline functions).
 */
#ifndef SKW_BENCH_ARGS_H
#define SKW_BENCH_ARGS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* A whole-string base-10 integer in [min, max], or exit 2 with a message. */
static inline long long arg_num(const char *s, long long min, long long max)
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

/* A whole-string decimal number in [min, max], or exit 2 with a message. */
static inline double arg_real(const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max)) {
		fprintf(stderr, "bad number \"%s\" (want %g..%g)\n", s, min, max);
		exit(2);
	}
	return v;
}

#endif
