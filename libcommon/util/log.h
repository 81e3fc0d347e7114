/* Logging on stderr, for diagnostics only (never for results).  The level
 * comes from EXO_DEBUG=0..9 (default 0: errors are reported by commands, not
 * here); 1 warnings, 3 info, 5 debug, 9 everything. */
#ifndef EXO_UTIL_LOG_H
#define EXO_UTIL_LOG_H

enum { LOG_WARN = 1, LOG_INFO = 3, LOG_DEBUG = 5, LOG_TRACE = 9 };

int log_level(void);
void log_set_level(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#endif
