// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The swapcached thread (see scanner.h): the loop, the writing pass and
 * the cleaning pass.  The policy lives in governor.c; this file moves
 * data.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "refill.h"
#include "scanner.h"
#include "store.h"

/* Clusters written to the store in one batch. */
#define BATCH 32u

/* A batch of gathered clusters, and its writes while they are in flight. */
struct batch {
	struct sc_pool_cluster cl[BATCH];
	struct sc_store_write w[BATCH];
	size_t n;
	unsigned char *bufs; /* BATCH clusters of sc->bufs */
	struct sc_store_batch *flying;
};

struct sc_scanner {
	struct sc_store *store;	 /* immutable */
	struct sc_pool *pool;	 /* immutable */
	struct sc_tunables *tun; /* immutable pointer; values atomic */
	sc_scanner_policy_fn policy;
	void *policy_arg;

	pthread_t thread;
	pthread_mutex_t lock; /* protects the fields below */
	pthread_cond_t wake;
	bool stop, kicked;
	struct sc_scanner_stats stats;
	void (*feed)(void *arg); /* by lock */
	void *feed_arg;

	/* The scanner thread's own; no lock. */
	struct sc_governor gov;
	uint64_t pending_adds;
	unsigned char *bufs;	 /* 2 * BATCH clusters: one batch in flight */
	struct batch batches[2]; /* gathered into in turn, on bufs */
	uint32_t epoch_seen;	 /* of the page last found eligible */
};

/*
 * The eligibility test of the writing pass.  The store's epoch of the
 * object is read here, before its pages are gathered: a write through
 * the mount after this point makes the store refuse what we gather.
 */
static bool eligible(void *arg, uint64_t object, uint64_t validator,
		     uint64_t pindex)
{
	struct sc_scanner *sc = arg;

	if (!sc_tunable_get(sc->tun, validator == SC_META_VALIDATOR
					     ? SC_T_META_ENABLE
					     : SC_T_DATA_ENABLE))
		return false;
	if (sc->policy &&
	    !sc->policy(sc->policy_arg, object, validator, pindex))
		return false;
	sc->epoch_seen = sc_store_epoch(sc->store, object);
	return true;
}

/* Start writing the gathered clusters. */
static void launch(struct sc_scanner *sc, struct batch *b)
{
	if (b->n)
		b->flying = sc_store_write_begin(sc->store, b->w, b->n);
}

/* Wait for a launched batch to be written, and account for it; empty it. */
static void land(struct sc_scanner *sc, struct batch *b)
{
	uint64_t bytes = 0, refused = 0, stored = 0, meta = 0;

	if (b->n == 0)
		return;
	sc_store_write_end(sc->store, b->flying);
	for (size_t i = 0; i < b->n; i++) {
		const struct sc_store_write *w = &b->w[i];
		/* Charged when gathered at most what it can cost the SSD. */
		uint64_t cost = sc_store_write_cost(w->valid_mask);

		/*
		 * What it did cost: a packed one less, or (the last of its
		 * pack's batch, with the table) a page more; refused, maybe 0.
		 */
		bytes += w->device_bytes;
		if (w->device_bytes <= cost)
			sc_governor_refund(&sc->gov, cost - w->device_bytes);
		else
			sc_governor_charge(&sc->gov, w->device_bytes - cost);
		if (w->result == 0) {
			stored++;
			meta += w->validator == SC_META_VALIDATOR;
		} else {
			refused += w->result == -ESTALE;
		}
		sc_pool_cluster_done(sc->pool, &b->cl[i], w->result == 0);
	}
	pthread_mutex_lock(&sc->lock);
	sc->stats.write_count += bytes;
	sc->stats.clusters_written += stored;
	sc->stats.meta_clusters_written += meta;
	sc->stats.clusters_refused += refused;
	pthread_mutex_unlock(&sc->lock);
	b->n = 0;
	b->flying = NULL;
}

/*
 * A writing pass: every colour from its marker, at most maxscan pages
 * examined and maxlaunder pages written in all, as long as the budget
 * lasts.  One batch is gathered while the one before it is written.
 * Returns whether every colour's queue was scanned to its end.
 */
static bool writing_pass(struct sc_scanner *sc)
{
	unsigned scan_each = (unsigned)(sc_tunable_get(sc->tun, SC_T_MAXSCAN) /
					SC_POOL_COLOURS) +
			     2;
	int64_t launder_each =
		sc_tunable_get(sc->tun, SC_T_MAXLAUNDER) / SC_POOL_COLOURS + 2;
	struct batch *batches = sc->batches, *b = &batches[0];
	unsigned reached_end = 0;

	for (unsigned colour = 0; colour < SC_POOL_COLOURS; colour++) {
		unsigned budget = scan_each;
		int64_t launder = launder_each;

		while (launder > 0 && sc_governor_may_write(&sc->gov)) {
			unsigned char *buf = b->bufs + b->n * SC_CLUSTER_BYTES;
			struct sc_pool_cluster *cl = &b->cl[b->n];
			int r = sc_pool_next_cluster(sc->pool, colour, &budget,
						     eligible, sc, buf, cl);

			if (r == -ENOENT)
				reached_end++;
			if (r != 1)
				break;
			b->w[b->n] = (struct sc_store_write){
				.object = cl->object,
				.validator = cl->validator,
				.cluster = cl->cluster,
				.valid_mask = cl->valid_mask,
				.buf = buf,
				.check_epoch = true,
				.epoch = sc->epoch_seen,
			};
			/* Charge now, so a batch cannot overshoot the budget. */
			sc_governor_charge(&sc->gov,
					   sc_store_write_cost(cl->valid_mask));
			launder -= __builtin_popcount(cl->valid_mask);
			if (++b->n == BATCH) {
				launch(sc, b);
				/* The other one's buffers are needed next. */
				b = b == &batches[0] ? &batches[1]
						     : &batches[0];
				land(sc, b);
			}
		}
	}
	launch(sc, b);
	land(sc, b == &batches[0] ? &batches[1] : &batches[0]);
	land(sc, b);
	return reached_end == SC_POOL_COLOURS;
}

/* A cleaning pass: free clusters until below maxswappct - 10. */
static void cleaning_pass(struct sc_scanner *sc, uint64_t size_bytes)
{
	int64_t pct = sc_tunable_get(sc->tun, SC_T_MAXSWAPPCT) - 10;
	uint64_t target = size_bytes / 100 * (uint64_t)(pct > 0 ? pct : 0);
	uint32_t per_object =
		(uint32_t)(sc_tunable_get(sc->tun, SC_T_CLEANPEROBJ) /
			   SC_CLUSTER_BYTES);
	uint32_t examine = (uint32_t)sc_tunable_get(sc->tun, SC_T_MAXSCAN);
	struct sc_store_stats st;
	size_t freed;

	/*
	 * At most a quarter of the slots a tick: the hand then takes at
	 * least four ticks to go round, and a cluster in use is touched
	 * again (given its second chance back) before the hand returns.
	 */
	sc_store_get_stats(sc->store, &st);
	if (examine > st.nslots / 4)
		examine = (uint32_t)(st.nslots / 4) + 1;
	freed = sc_store_clean(sc->store, examine, target,
			       per_object ? per_object : 1);
	if (freed)
		sc_store_commit(sc->store);
	pthread_mutex_lock(&sc->lock);
	sc->stats.clusters_cleaned += freed;
	sc->stats.cleaning_passes++;
	pthread_mutex_unlock(&sc->lock);
}

/* Let the daemon put what it keeps elsewhere (metadata) into the pool. */
static void feed(struct sc_scanner *sc)
{
	void (*fn)(void *arg);
	void *arg;

	pthread_mutex_lock(&sc->lock);
	fn = sc->feed;
	arg = sc->feed_arg;
	pthread_mutex_unlock(&sc->lock);
	if (fn)
		fn(arg);
}

/* What the stats say of the governor (under sc->lock once the thread runs). */
static void copy_governor_stats(struct sc_scanner *sc)
{
	sc->stats.state = sc->gov.state;
	sc->stats.burst = sc->gov.burst;
	sc->stats.curburst_bytes = sc->gov.curburst_bytes;
	sc->stats.hysteresis_pages = sc->gov.hysteresis_pages;
}

static void tick(struct sc_scanner *sc)
{
	struct sc_governor_config cfg = {
		.accrate_bytes = sc_tunable_get(sc->tun, SC_T_ACCRATE),
		.maxburst_bytes = sc_tunable_get(sc->tun, SC_T_MAXBURST),
		.minburst_bytes = sc_tunable_get(sc->tun, SC_T_MINBURST),
		.maxswappct =
			(unsigned)sc_tunable_get(sc->tun, SC_T_MAXSWAPPCT),
		.min_hysteresis_pages =
			(uint64_t)sc_tunable_get(sc->tun, SC_T_MIN_HYSTERESIS),
	};
	struct sc_store_stats st;
	struct sc_pool_stats ps;
	int64_t request;

	feed(sc);
	request = atomic_exchange(&sc->tun->curburst_request, -1);
	if (request >= 0)
		sc->gov.curburst_bytes = request;
	if (sc_store_failed(sc->store))
		return; /* nothing to write to until the next mount */
	sc_store_get_stats(sc->store, &st);
	sc_pool_get_stats(sc->pool, &ps);
	sc->pending_adds += sc_pool_take_adds(sc->pool);
	switch (sc_governor_tick(&sc->gov, &cfg, sc_monotonic_ns(),
				 st.used_bytes, st.data_bytes,
				 ps.inactive_pages, &sc->pending_adds)) {
	case SC_TICK_WRITE:
		sc_governor_pass_done(&sc->gov, writing_pass(sc));
		pthread_mutex_lock(&sc->lock);
		sc->stats.writing_passes++;
		pthread_mutex_unlock(&sc->lock);
		break;
	case SC_TICK_CLEAN:
		cleaning_pass(sc, st.data_bytes);
		break;
	case SC_TICK_IDLE:
		break;
	}
	pthread_mutex_lock(&sc->lock);
	copy_governor_stats(sc);
	pthread_mutex_unlock(&sc->lock);
}

static bool stopping(struct sc_scanner *sc)
{
	bool stop;

	pthread_mutex_lock(&sc->lock);
	stop = sc->stop;
	pthread_mutex_unlock(&sc->lock);
	return stop;
}

static bool refill_progress(void *arg, uint64_t pages)
{
	struct sc_scanner *sc = arg;
	bool stop;

	pthread_mutex_lock(&sc->lock);
	sc->stats.ram_refilled_pages += pages;
	stop = sc->stop;
	pthread_mutex_unlock(&sc->lock);
	return !stop;
}

static void *scanner_main(void *arg)
{
	struct sc_scanner *sc = arg;
	uint32_t warm_cursor = 0;

	/*
	 * First what the RAM pool held at the last unmount, back into it;
	 * then the page checksums of what the SSD holds, a run of trailers
	 * a read: the first read of part of each cluster after a mount is
	 * then one device read, not two (one for its trailer).
	 */
	if (sc_tunable_get(sc->tun, SC_T_READ_ENABLE) && !stopping(sc))
		sc_refill_run(sc->pool, sc->store, refill_progress, sc);
	while (sc_tunable_get(sc->tun, SC_T_READ_ENABLE) && !stopping(sc) &&
	       sc_store_warm_checksums(sc->store, &warm_cursor))
		;
	pthread_mutex_lock(&sc->lock);
	while (!sc->stop) {
		struct sc_store_stats st;
		struct timespec until;
		uint64_t interval;

		pthread_mutex_unlock(&sc->lock);
		sc_store_get_stats(sc->store, &st);
		interval = sc_governor_interval_ns(
			sc_tunable_get(sc->tun, SC_T_DATA_ENABLE),
			sc_tunable_get(sc->tun, SC_T_META_ENABLE),
			st.used_bytes, st.data_bytes,
			(unsigned)sc_tunable_get(sc->tun, SC_T_MAXSWAPPCT));
		until = sc_timespec_after(CLOCK_MONOTONIC, interval);
		pthread_mutex_lock(&sc->lock);
		while (!sc->stop && !sc->kicked &&
		       pthread_cond_timedwait(&sc->wake, &sc->lock, &until) ==
			       0)
			;
		if (sc->stop)
			break;
		sc->kicked = false;
		pthread_mutex_unlock(&sc->lock);
		tick(sc);
		pthread_mutex_lock(&sc->lock);
	}
	pthread_mutex_unlock(&sc->lock);
	return NULL;
}

int sc_scanner_start(struct sc_store *store, struct sc_pool *pool,
		     struct sc_tunables *tunables, sc_scanner_policy_fn policy,
		     void *policy_arg, struct sc_scanner **ret)
{
	struct sc_scanner *sc = calloc(1, sizeof(*sc));
	pthread_condattr_t attr;
	int err;

	if (!sc)
		return -ENOMEM;
	if (posix_memalign((void **)&sc->bufs, 4096,
			   2 * (size_t)BATCH * SC_CLUSTER_BYTES) != 0) {
		free(sc);
		return -ENOMEM;
	}
	sc->batches[0].bufs = sc->bufs;
	sc->batches[1].bufs = sc->bufs + (size_t)BATCH * SC_CLUSTER_BYTES;
	sc->store = store;
	sc->pool = pool;
	sc->tun = tunables;
	sc->policy = policy;
	sc->policy_arg = policy_arg;
	sc_governor_init(&sc->gov, sc_tunable_get(tunables, SC_T_CURBURST),
			 sc_monotonic_ns());
	/* The stats say the governor's state before its first tick. */
	copy_governor_stats(sc);
	atomic_store(&tunables->curburst_request, -1);
	pthread_mutex_init(&sc->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&sc->wake, &attr);
	pthread_condattr_destroy(&attr);
	err = pthread_create(&sc->thread, NULL, scanner_main, sc);
	if (!err)
		pthread_setname_np(sc->thread, "swapcached");
	if (err) {
		pthread_cond_destroy(&sc->wake);
		pthread_mutex_destroy(&sc->lock);
		free(sc->bufs);
		free(sc);
		return -err;
	}
	*ret = sc;
	return 0;
}

void sc_scanner_stop(struct sc_scanner *sc)
{
	if (!sc)
		return;
	pthread_mutex_lock(&sc->lock);
	sc->stop = true;
	pthread_cond_signal(&sc->wake);
	pthread_mutex_unlock(&sc->lock);
	pthread_join(sc->thread, NULL);
	/*
	 * A last pass within the budget, so that what was read just before
	 * the unmount (a tree walked for its metadata above all) is kept.
	 */
	feed(sc);
	if (!sc_store_failed(sc->store) && sc_governor_may_write(&sc->gov))
		writing_pass(sc);
	sc_store_commit(sc->store);
	pthread_cond_destroy(&sc->wake);
	pthread_mutex_destroy(&sc->lock);
	free(sc->bufs);
	free(sc);
}

void sc_scanner_set_feeder(struct sc_scanner *sc, void (*fn)(void *arg),
			   void *arg)
{
	pthread_mutex_lock(&sc->lock);
	sc->feed = fn;
	sc->feed_arg = arg;
	pthread_mutex_unlock(&sc->lock);
}

void sc_scanner_kick(struct sc_scanner *sc)
{
	pthread_mutex_lock(&sc->lock);
	sc->kicked = true;
	pthread_cond_signal(&sc->wake);
	pthread_mutex_unlock(&sc->lock);
}

void sc_scanner_get_stats(struct sc_scanner *sc, struct sc_scanner_stats *ret)
{
	pthread_mutex_lock(&sc->lock);
	*ret = sc->stats;
	pthread_mutex_unlock(&sc->lock);
}
