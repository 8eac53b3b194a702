/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging for the daemon.  Messages go to stderr while the process is in
 * the foreground and to syslog once it has daemonized.  Only src/daemon/
 * logs above SC_LOG_DEBUG (STYLE.md rule 6); the lower layers return
 * errors and let the daemon decide what a user needs to read.
 */
#ifndef SC_LOG_H
#define SC_LOG_H

#include <stdbool.h>

enum sc_log_level {
	SC_LOG_ERR = 3,
	SC_LOG_WARNING = 4,
	SC_LOG_NOTICE = 5,
	SC_LOG_INFO = 6,
	SC_LOG_DEBUG = 7,
};

/* Messages above max_level are dropped; use_syslog switches the sink. */
void sc_log_setup(enum sc_log_level max_level, bool use_syslog);

void sc_log(enum sc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define sc_err(...) sc_log(SC_LOG_ERR, __VA_ARGS__)
#define sc_warn(...) sc_log(SC_LOG_WARNING, __VA_ARGS__)
#define sc_notice(...) sc_log(SC_LOG_NOTICE, __VA_ARGS__)
#define sc_info(...) sc_log(SC_LOG_INFO, __VA_ARGS__)
#define sc_debug(...) sc_log(SC_LOG_DEBUG, __VA_ARGS__)

#endif
