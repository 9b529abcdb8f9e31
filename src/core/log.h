/*
 * log.h - one-line structured logging to stderr.
 *
 * Lines look like: 2026-11-27T10:00:00.123Z INFO  http method=GET path=/healthz ...
 * Callers must never pass secrets, API keys or session ids. Thread-safe: each
 * line is formatted into a local buffer and written with one write(2).
 */
#ifndef SKW_CORE_LOG_H
#define SKW_CORE_LOG_H

enum skw_log_level { SKW_LOG_DEBUG, SKW_LOG_INFO, SKW_LOG_WARN, SKW_LOG_ERROR };

void skw_log_set_level(enum skw_log_level level);
void skw_log(enum skw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The level, set once at start (skw_log_set_level) before threads run. */
extern enum skw_log_level skw_log_min_level;

/* Debug lines sit on hot paths: their arguments are not even evaluated
 * unless the level asks for them. */
#define skw_debug(...)                                                                             \
	do {                                                                                       \
		if (skw_log_min_level <= SKW_LOG_DEBUG)                                            \
			skw_log(SKW_LOG_DEBUG, __VA_ARGS__);                                       \
	} while (0)
#define skw_info(...) skw_log(SKW_LOG_INFO, __VA_ARGS__)
#define skw_warn(...) skw_log(SKW_LOG_WARN, __VA_ARGS__)
#define skw_error(...) skw_log(SKW_LOG_ERROR, __VA_ARGS__)

#endif
