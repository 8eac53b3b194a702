// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Offline mode (see offline.h).  The state is one atomic flag: the hot
 * path reads it and nothing else.  Going offline starts the probe thread
 * (detached: a probe stuck in a dead server must not hold the unmount).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "clock.h"
#include "fs.h"
#include "log.h"
#include "offline.h"

static atomic_bool offline;
static _Atomic uint64_t times_offline;
static _Atomic uint64_t offline_since_ns;

bool sc_offline_is_network_error(int err)
{
	switch (err < 0 ? -err : err) {
	case EIO:
	case ENOTCONN:
	case ECONNABORTED:
	case ECONNRESET:
	case ECONNREFUSED:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ENETDOWN:
	case ENETUNREACH:
	case ESHUTDOWN:
	case ETIMEDOUT:
		return true;
	default:
		return false;
	}
}

/*
 * 0 when BACKING answers, else the error.  statfs, because it reaches the
 * server: sshfs answers a stat from its own cache for 20 s.
 */
static int probe(const struct sc_fs *fs)
{
	struct statvfs sv;

	return fstatvfs(fs->root_fd, &sv) == 0 ? 0 : errno;
}

static void *probe_main(void *arg)
{
	struct sc_fs *fs = arg;
	const struct timespec pause = {
		.tv_sec = SC_OFFLINE_PROBE_NS / 1000000000ULL,
		.tv_nsec = SC_OFFLINE_PROBE_NS % 1000000000ULL,
	};

	for (;;) {
		nanosleep(&pause, NULL);
		if (probe(fs) == 0)
			break;
	}
	sc_notice("BACKING %s is back online after %llu s", fs->backing_path,
		  (unsigned long long)((sc_monotonic_ns() -
					atomic_load(&offline_since_ns)) /
				       1000000000ULL));
	atomic_store(&offline, false);
	return NULL;
}

bool sc_offline_check(struct sc_fs *fs, int err)
{
	pthread_attr_t attr;
	pthread_t thread;
	bool expected = false;
	int why;

	if (atomic_load(&offline))
		return true;
	if (!sc_offline_is_network_error(err))
		return false;
	why = probe(fs);
	if (why == 0 || !sc_offline_is_network_error(why))
		return false;
	if (!atomic_compare_exchange_strong(&offline, &expected, true))
		return true; /* another thread took it offline */
	atomic_store(&offline_since_ns, sc_monotonic_ns());
	atomic_fetch_add(&times_offline, 1);
	sc_warn("BACKING %s is offline (%s): serving what is cached, "
		"failing the rest with \"%s\", refusing changes",
		fs->backing_path, strerror(why), strerror(SC_OFFLINE_ERRNO));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, probe_main, fs) == 0) {
		pthread_setname_np(thread, "online-probe");
	} else {
		/* No probe: stay online, and look again at the next error. */
		atomic_store(&offline, false);
	}
	pthread_attr_destroy(&attr);
	return atomic_load(&offline);
}

bool sc_offline_now(void)
{
	return atomic_load_explicit(&offline, memory_order_relaxed);
}

uint64_t sc_offline_count(void)
{
	return atomic_load(&times_offline);
}
