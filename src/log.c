// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The log sink: stderr in the foreground, syslog(3) when daemonized.  Kept
 * apart so that tests and tools link it without the FUSE daemon.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "log.h"

static enum sc_log_level log_max_level = SC_LOG_NOTICE;
static bool log_to_syslog;

/*
 * Set where messages go and how verbose they are.  Call before threads
 * start; the two words are read without a lock afterwards.
 */
void sc_log_setup(enum sc_log_level max_level, bool use_syslog)
{
	log_max_level = max_level;
	if (use_syslog && !log_to_syslog)
		openlog("swapcachefs", LOG_PID, LOG_DAEMON);
	log_to_syslog = use_syslog;
}

/*
 * Write one message.  A trailing newline is added on stderr; callers
 * write none.  No requirements.
 */
void sc_log(enum sc_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	if (log_to_syslog) {
		vsyslog((int)level, fmt, ap);
	} else {
		flockfile(stderr);
		fputs("swapcachefs: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		funlockfile(stderr);
	}
	va_end(ap);
}
