/*
 * fuzz_inputs.c - fuzz target for the small parsers of outside input: RFC
 * 3339 times, durations, integers, names, webhook URLs and CIDR ranges. The
 * first byte picks the parser; the rest is its input as a C string.
 * Invariants: no crash, and a time that parses formats back to one that
 * parses to the same instant (at second precision).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "core/util.h"
#include "deliver/guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct skw_field_error e;
	struct skw_cidr c;
	char *s, *name;
	int64_t ms, back;
	long long v;
	char buf[64];

	if (size < 1 || size > 4096)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 6) {
	case 0:
		/* years 1970-9999 in UTC round-trip; an offset can carry a
		 * valid local time outside them, which is fine (kept as given) */
		if (skw_time_parse(s, &ms) && ms >= 0 && ms < 253402300800000LL) {
			skw_time_format(ms, buf, sizeof(buf));
			if (!skw_time_parse(buf, &back) || back / 1000 != ms / 1000)
				abort();
		}
		break;
	case 1:
		(void)skw_parse_duration(s, &ms);
		break;
	case 2:
		(void)skw_parse_int(s, -1000, 1000, &v);
		break;
	case 3:
		name = skw_validate_name("name", s, 100, &e);
		free(name);
		break;
	case 4:
		(void)skw_validate_url(s, true, &e);
		break;
	default:
		(void)skw_cidr_parse(s, &c);
		break;
	}
	free(s);
	return 0;
}
