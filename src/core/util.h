/*
 * util.h - time, random identifiers and small string helpers.
 *
 * Times inside skwebhooks are int64 milliseconds since the Unix epoch (UTC);
 * they are formatted as RFC 3339 only at the edges (API, logs).
 */
#ifndef SKW_CORE_UTIL_H
#define SKW_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time in ms since the epoch. */
int64_t skw_now_ms(void);
/* Monotonic time in ms, for durations and timers. */
int64_t skw_mono_ms(void);
/* The same clock in microseconds. */
int64_t skw_mono_us(void);

/* Formats ms as "2026-11-27T10:00:00Z" (seconds precision) into out. */
void skw_time_format(int64_t ms, char *out, size_t out_len);
/* Formats ms as "2026-11-27T10:00:00.123Z" into out. */
void skw_time_format_ms(int64_t ms, char *out, size_t out_len);
/*
 * Parses an RFC 3339 date-time ("2025-01-15T10:30:00Z", optional fraction,
 * "Z" or +hh:mm offset). Returns true and sets *ms on success.
 */
bool skw_time_parse(const char *s, int64_t *ms);

/*
 * Writes prefix followed by 26 lowercase base32 characters of 128 random
 * bits ("wh_..."), NUL-terminated, into out (at least strlen(prefix)+27).
 */
void skw_random_id(const char *prefix, char *out, size_t out_len);
/*
 * The same format, but the first 9 characters encode now_ms so that ids
 * made later sort after earlier ones (byte order), followed by 85 random
 * bits. For the ids of high-volume rows (events, deliveries): keyed by a
 * time-ordered id, their inserts and deletes touch the right and left edge
 * of the B-tree instead of a random page each, which keeps the pages (WAL
 * frames) written per commit few however large the table grows.
 */
void skw_sorted_id(const char *prefix, int64_t now_ms, char *out, size_t out_len);
#define SKW_ID_MAX 40

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void skw_hex(const unsigned char *in, size_t len, char *out);

/* strdup that returns NULL on NULL. */
char *skw_strdup(const char *s);

/* Copies src into dst (size dst_len), always NUL-terminating; truncates. */
void skw_strlcpy(char *dst, const char *src, size_t dst_len);

/*
 * Parses a base-10 integer from s (the whole string). Returns true and sets
 * *out when s is a valid number within [min, max].
 */
bool skw_parse_int(const char *s, long long min, long long max, long long *out);

/*
 * Parses a duration such as "5s", "250ms", "5m", "2h", "1d" into ms.
 * Returns true on success.
 */
bool skw_parse_duration(const char *s, int64_t *ms);

#endif
