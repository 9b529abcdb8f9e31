/*
 * util.c - see util.h. Randomness comes from libsodium's randombytes, which
 * the caller must have initialised with sodium_init() before threads start.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

int64_t skw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t skw_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t skw_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void split_time(int64_t ms, struct tm *tm, int *frac)
{
	time_t secs = (time_t)(ms / 1000);
	int rem = (int)(ms % 1000);

	if (rem < 0) {
		rem += 1000;
		secs -= 1;
	}
	gmtime_r(&secs, tm);
	*frac = rem;
}

void skw_time_format(int64_t ms, char *out, size_t out_len)
{
	struct tm tm;
	int frac;

	split_time(ms, &tm, &frac);
	snprintf(out, out_len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void skw_time_format_ms(int64_t ms, char *out, size_t out_len)
{
	struct tm tm;
	int frac;

	split_time(ms, &tm, &frac);
	snprintf(out, out_len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool skw_time_parse(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi, sec, frac_ms = 0, off = 0;
	const char *p;

	if (strlen(s) < 20)
		return false;
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
		return false;
	p = s + 19;
	if (*p == '.') {
		int n = 0;

		p++;
		while (isdigit((unsigned char)p[n])) {
			if (n < 3)
				frac_ms = frac_ms * 10 + (p[n] - '0');
			n++;
		}
		if (n == 0 || n > 9)
			return false;
		for (int i = n; i < 3; i++)
			frac_ms *= 10;
		p += n;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6) {
		int oh, om;

		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
	} else {
		return false;
	}
	if (sec == 60)
		sec = 59; /* leap second: clamp, RFC 3339 allows it */
	*ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off * 60) * 1000 +
	      frac_ms;
	return true;
}

/* Ids are public, not secrets: each thread draws them from its own pool of
 * random bytes, so that an id costs no getrandom() call (one per delivery
 * at ingest was 1% of a loaded node's time). */
static void id_random(unsigned char *out, size_t n)
{
	static _Thread_local unsigned char pool[1024];
	static _Thread_local size_t used = sizeof(pool);

	if (n > sizeof(pool) - used) {
		randombytes_buf(pool, sizeof(pool));
		used = 0;
	}
	memcpy(out, pool + used, n);
	used += n;
}

void skw_random_id(const char *prefix, char *out, size_t out_len)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char raw[16];
	size_t plen = strlen(prefix);
	size_t bit = 0;

	id_random(raw, sizeof(raw));
	if (out_len < plen + 27) {
		if (out_len)
			out[0] = '\0';
		return;
	}
	memcpy(out, prefix, plen);
	for (size_t i = 0; i < 26; i++, bit += 5) {
		size_t byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)raw[byte] << 8;

		if (byte + 1 < sizeof(raw))
			v |= raw[byte + 1];
		out[plen + i] = alphabet[(v >> (11 - shift)) & 31];
	}
	out[plen + 26] = '\0';
}

void skw_sorted_id(const char *prefix, int64_t now_ms, char *out, size_t out_len)
{
	/* skw_random_id's alphabet in byte order, so digits sort like values */
	static const char sorted[] = "234567abcdefghijklmnopqrstuvwxyz";
	size_t plen = strlen(prefix);
	uint64_t t = now_ms > 0 ? (uint64_t)now_ms : 0;

	skw_random_id(prefix, out, out_len);
	if (!out_len || !out[0])
		return;
	for (size_t i = 9; i-- > 0; t >>= 5) /* 45 bits: ms until the year 3084 */
		out[plen + i] = sorted[t & 31];
}

void skw_hex(const unsigned char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

char *skw_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void skw_strlcpy(char *dst, const char *src, size_t dst_len)
{
	size_t n;

	if (!dst_len)
		return;
	n = strlen(src);
	if (n >= dst_len)
		n = dst_len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

bool skw_parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool skw_parse_duration(const char *s, int64_t *ms)
{
	char *end;
	double v;
	double mult;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return false;
	if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "s") || !*end)
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60000;
	else if (!strcmp(end, "h"))
		mult = 3600000;
	else if (!strcmp(end, "d"))
		mult = 86400000;
	else
		return false;
	v *= mult;
	if (v < 0 || v > 365.0 * 86400000)
		return false;
	*ms = (int64_t)v;
	return true;
}
