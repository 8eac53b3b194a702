// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The prefetch thread (see prefetch.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backing.h"
#include "clock.h"
#include "deadline.h"
#include "fs.h"
#include "handle.h"
#include "log.h"
#include "change.h"
#include "policy.h"
#include "pool.h"
#include "prefetch.h"
#include "rw.h"
#include "scanner.h"
#include "store.h"

/* Clusters read from BACKING at once: 1 MiB. */
#define STEP_CLUSTERS 16u
/* Bytes read ahead of the SSD at most; a quarter of the pool if less. */
#define WINDOW_BYTES (64ull << 20)
/* A file whose SSD copy has not grown for this long is left. */
#define STALL_NS (60ull * 1000000000ull)
#define PAUSE_NS 100000000L

struct sc_prefetch {
	struct sc_fs *fs;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	char *queue[SC_PREFETCH_QUEUE]; /* by lock: a ring */
	unsigned head, count;
	_Atomic bool stop;
};

/*
 * Note what the scanner's policy needs of the file at path (as an open
 * does), and say whether the scanner would write its pages at all: by
 * that policy itself (maxfilesize, use_chflags) and data_enable.
 */
static bool worth_it(struct sc_fs *fs, const char *path, uint64_t object,
		     const struct stat *st)
{
	sc_object_note(object, (uint64_t)st->st_size,
		       sc_policy_allows(fs->policy, path));
	return sc_tunable_get(&fs->tunables, SC_T_DATA_ENABLE) &&
	       sc_object_policy(&fs->objects, object,
				sc_object_validator(&fs->objects, st), 0);
}

/*
 * Wait while more than window bytes of f up to end are read but not on
 * the SSD yet.  false when the SSD stopped following (or we stop).
 */
static bool wait_for_ssd(struct sc_prefetch *pf, struct sc_file *f,
			 uint64_t end, uint64_t window)
{
	const struct timespec pause = { .tv_nsec = PAUSE_NS };
	uint64_t last = 0, since = sc_monotonic_ns();

	for (;;) {
		uint64_t on_ssd = sc_store_object_bytes(
			pf->fs->store, f->object, f->validator);

		if (end <= on_ssd + window)
			return true;
		if (atomic_load(&pf->stop) || sc_store_failed(pf->fs->store))
			return false;
		if (on_ssd != last) {
			last = on_ssd;
			since = sc_monotonic_ns();
		} else if (sc_monotonic_ns() - since > STALL_NS) {
			return false;
		}
		sc_scanner_kick(pf->fs->scanner);
		nanosleep(&pause, NULL);
	}
}

static int prefetch_file(void *arg, const char *path, const struct stat *st)
{
	struct sc_prefetch *pf = arg;
	struct sc_fs *fs = pf->fs;
	struct sc_pool_stats ps;
	uint64_t window = WINDOW_BYTES;
	uint32_t clusters =
		(uint32_t)(((uint64_t)st->st_size + SC_CLUSTER_BYTES - 1) /
			   SC_CLUSTER_BYTES);
	struct sc_file f = { .refs = 1, .cacheable = true };
	int ret = 0;

	f.object = sc_object_name(&fs->objects, path);
	if (!worth_it(fs, path, f.object, st))
		return 0;
	sc_pool_get_stats(fs->pool, &ps);
	if (ps.pages * SC_PAGE_BYTES / 4 < window)
		window = ps.pages * SC_PAGE_BYTES / 4;
	if (sc_open_below(fs, path, O_RDONLY | O_NONBLOCK, &f.backing.fd) < 0)
		return 0;
	if (fstat(f.backing.fd, &f.opened) == 0 && S_ISREG(f.opened.st_mode) &&
	    !sc_object_racy(&fs->objects, &f.opened)) {
		/* The contents as of this open name the pages, not the walk's. */
		f.validator = sc_object_validator(&fs->objects, &f.opened);
		f.size = (uint64_t)f.opened.st_size;
		for (uint32_t c = 0; c < clusters && ret == 0;
		     c += STEP_CLUSTERS) {
			unsigned n = clusters - c < STEP_CLUSTERS
					     ? clusters - c
					     : STEP_CLUSTERS;

			sc_deadline_begin(NULL); /* counted if BACKING hangs */
			ret = sc_rw_fetch(fs, &f, c, n);
			sc_deadline_own_reply();
			if (ret == 0 &&
			    !wait_for_ssd(pf, &f,
					  (uint64_t)(c + n) * SC_CLUSTER_BYTES,
					  window))
				ret = -EAGAIN;
		}
	}
	if (ret < 0 && !atomic_load(&pf->stop))
		sc_info("prefetch of %s stopped: %s", path, strerror(-ret));
	close(f.backing.fd);
	return atomic_load(&pf->stop) ? 1 : 0;
}

static void *prefetch_main(void *arg)
{
	struct sc_prefetch *pf = arg;

	pthread_mutex_lock(&pf->lock);
	while (!atomic_load(&pf->stop)) {
		char *path;

		if (!pf->count) {
			pthread_cond_wait(&pf->wake, &pf->lock);
			continue;
		}
		path = pf->queue[pf->head];
		pf->head = (pf->head + 1) % SC_PREFETCH_QUEUE;
		pf->count--;
		pthread_mutex_unlock(&pf->lock);
		sc_walk_files(pf->fs, path, prefetch_file, pf, &pf->stop);
		free(path);
		pthread_mutex_lock(&pf->lock);
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

int sc_prefetch_start(struct sc_fs *fs)
{
	struct sc_prefetch *pf = calloc(1, sizeof(*pf));
	int err;

	if (!pf)
		return -ENOMEM;
	pf->fs = fs;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->wake, NULL);
	err = pthread_create(&pf->thread, NULL, prefetch_main, pf);
	if (err) {
		pthread_cond_destroy(&pf->wake);
		pthread_mutex_destroy(&pf->lock);
		free(pf);
		return -err;
	}
	pthread_setname_np(pf->thread, "prefetch");
	fs->prefetch = pf;
	return 0;
}

void sc_prefetch_stop(struct sc_fs *fs)
{
	struct sc_prefetch *pf = fs->prefetch;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	atomic_store(&pf->stop, true);
	pthread_cond_signal(&pf->wake);
	pthread_mutex_unlock(&pf->lock);
	pthread_join(pf->thread, NULL);
	for (; pf->count;
	     pf->count--, pf->head = (pf->head + 1) % SC_PREFETCH_QUEUE)
		free(pf->queue[pf->head]);
	pthread_cond_destroy(&pf->wake);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
	fs->prefetch = NULL;
}

int sc_prefetch_queue(struct sc_fs *fs, const char *path)
{
	struct sc_prefetch *pf = fs->prefetch;
	char *copy;
	int ret = 0;

	if (!pf)
		return -EOPNOTSUPP;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&pf->lock);
	if (pf->count == SC_PREFETCH_QUEUE) {
		ret = -EAGAIN;
	} else {
		pf->queue[(pf->head + pf->count) % SC_PREFETCH_QUEUE] = copy;
		pf->count++;
		pthread_cond_signal(&pf->wake);
	}
	pthread_mutex_unlock(&pf->lock);
	if (ret < 0)
		free(copy);
	return ret;
}
