/*
 * log.c - see log.h. The level is the only global state; it is set once at
 * start-up before threads exist and read without a lock afterwards.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "util.h"

enum skw_log_level skw_log_min_level = SKW_LOG_INFO;

void skw_log_set_level(enum skw_log_level level)
{
	skw_log_min_level = level;
}

void skw_log(enum skw_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
	char line[2048];
	char ts[40];
	va_list ap;
	int n, m;

	if (level < skw_log_min_level)
		return;
	skw_time_format_ms(skw_now_ms(), ts, sizeof(ts));
	n = snprintf(line, sizeof(line), "%s %s ", ts, names[level]);
	if (n < 0)
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}
