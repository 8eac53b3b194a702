// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Request deadlines (see deadline.h).
 *
 * A slot moves FREE -> IDLE when a thread first needs one, then IDLE ->
 * BUSY (begin) -> IDLE (own_reply) for each request.  The watchdog moves
 * BUSY -> EXPIRED and answers; the worker then finds EXPIRED, drops its
 * reply and moves the slot back to IDLE.  EXEMPT is BUSY without a
 * deadline.  HELD is BUSY while the worker writes where the watchdog's
 * answer would go on (sc_deadline_hold): the watchdog passes it by.  A
 * slot is given back (FREE) when its thread exits.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "deadline.h"
#include "fs.h"
#include "log.h"

#define MAX_SLOTS 1024u
#define WATCH_EVERY_NS 250000000ull

enum slot_kind {
	SLOT_FREE,
	SLOT_IDLE,
	SLOT_BUSY,
	SLOT_EXEMPT,
	SLOT_EXPIRED,
	SLOT_HELD
};

/*
 * A slot's state word: its kind in the low byte and, above it, the number
 * of the request it is on, so that the watchdog's compare-and-swap fails
 * if the worker finished one request and began the next meanwhile.
 */
#define WORD(kind, gen) ((uint64_t)(kind) | (uint64_t)(gen) << 8)
#define KIND(word) ((int)((word)&0xff))
#define GEN(word) ((word) >> 8)

struct slot {
	_Atomic uint64_t state;
	_Atomic uint64_t since_ns;
	_Atomic uintptr_t req; /* the fuse_req_t, or 0 */
	/*
	 * The answer on expiry instead of ETIMEDOUT: written by the owner
	 * while BUSY, then published by the release store of has_fallback.
	 */
	_Atomic bool has_fallback;
	struct stat fallback;
	double fallback_timeout;
};

static struct slot slots[MAX_SLOTS];
static _Atomic unsigned slots_seen; /* slots ever taken: the watchdog's range */
static pthread_key_t slot_key;
static pthread_once_t slot_key_once = PTHREAD_ONCE_INIT;
static __thread struct slot *my_slot;
/* This thread's hold (sc_deadline_hold) on its request. */
static __thread enum {
	HOLD_NONE,
	HOLD_HELD,    /* the watchdog passes the request by */
	HOLD_WAITING, /* let go for a wait on BACKING, to be held again */
	HOLD_LOST     /* the watchdog answered: nothing more may be written */
} hold;

static struct {
	struct sc_fs *fs;
	uint64_t timeout_ns;
	bool (*end_stuck)(struct sc_fs *fs);
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool running, stop; /* protected by lock */
	_Atomic uint64_t expired;
	_Atomic unsigned stuck;
} dog = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static void give_back(void *arg)
{
	struct slot *s = arg;

	atomic_store(&s->state, WORD(SLOT_FREE, GEN(atomic_load(&s->state))));
}

static void make_key(void)
{
	pthread_key_create(&slot_key, give_back);
}

static struct slot *take_slot(void)
{
	if (my_slot)
		return my_slot;
	pthread_once(&slot_key_once, make_key);
	for (unsigned i = 0; i < MAX_SLOTS; i++) {
		uint64_t w = atomic_load(&slots[i].state);

		if (KIND(w) == SLOT_FREE &&
		    atomic_compare_exchange_strong(&slots[i].state, &w,
						   WORD(SLOT_IDLE, GEN(w)))) {
			unsigned seen = atomic_load(&slots_seen);

			while (seen < i + 1 &&
			       !atomic_compare_exchange_weak(&slots_seen, &seen,
							     i + 1))
				;
			my_slot = &slots[i];
			pthread_setspecific(slot_key, my_slot);
			return my_slot;
		}
	}
	return NULL;
}

bool sc_deadline_begin(fuse_req_t req)
{
	struct slot *s = take_slot();
	uint64_t w;

	hold = HOLD_NONE;
	if (!s)
		return false;
	w = atomic_load_explicit(&s->state, memory_order_relaxed);
	atomic_store_explicit(&s->req, (uintptr_t)req, memory_order_relaxed);
	atomic_store_explicit(&s->has_fallback, false, memory_order_relaxed);
	atomic_store_explicit(&s->since_ns, sc_monotonic_coarse_ns(),
			      memory_order_relaxed);
	atomic_store_explicit(&s->state, WORD(SLOT_BUSY, GEN(w) + 1),
			      memory_order_release);
	return true;
}

void sc_deadline_fallback_attr(const struct stat *attr, double timeout)
{
	struct slot *s = my_slot;

	if (!s || KIND(atomic_load(&s->state)) != SLOT_BUSY)
		return;
	s->fallback = *attr;
	s->fallback_timeout = timeout;
	atomic_store_explicit(&s->has_fallback, true, memory_order_release);
}

void sc_deadline_exempt(void)
{
	uint64_t w;

	if (!my_slot)
		return;
	w = atomic_load(&my_slot->state);
	if (KIND(w) == SLOT_BUSY)
		atomic_compare_exchange_strong(&my_slot->state, &w,
					       WORD(SLOT_EXEMPT, GEN(w)));
}

/* Move this thread's slot from one kind to another; false if it was not. */
static bool slot_move(struct slot *s, int from, int to, uint64_t *ret_word)
{
	uint64_t w = atomic_load_explicit(&s->state, memory_order_acquire);

	*ret_word = w;
	return KIND(w) == from &&
	       atomic_compare_exchange_strong(&s->state, &w, WORD(to, GEN(w)));
}

bool sc_deadline_hold(void)
{
	uint64_t w;

	if (hold == HOLD_LOST)
		return false;
	if (!my_slot || slot_move(my_slot, SLOT_BUSY, SLOT_HELD, &w) ||
	    KIND(w) != SLOT_EXPIRED) {
		hold = HOLD_HELD; /* or nothing to hold: no deadline runs */
		return true;
	}
	hold = HOLD_LOST;
	return false;
}

void sc_deadline_release(void)
{
	uint64_t w;

	if (hold != HOLD_HELD)
		return;
	if (my_slot)
		slot_move(my_slot, SLOT_HELD, SLOT_BUSY, &w);
	hold = HOLD_NONE;
}

void sc_deadline_wait_begin(void)
{
	if (hold != HOLD_HELD)
		return;
	sc_deadline_release();
	hold = HOLD_WAITING;
}

bool sc_deadline_wait_end(void)
{
	if (hold == HOLD_WAITING)
		return sc_deadline_hold();
	return hold != HOLD_LOST;
}

bool sc_deadline_own_reply(void)
{
	struct slot *s = my_slot;
	uint64_t w;

	hold = HOLD_NONE;
	if (!s)
		return true;
	w = atomic_load_explicit(&s->state, memory_order_acquire);
	if ((KIND(w) == SLOT_BUSY || KIND(w) == SLOT_EXEMPT ||
	     KIND(w) == SLOT_HELD) &&
	    atomic_compare_exchange_strong(&s->state, &w,
					   WORD(SLOT_IDLE, GEN(w))))
		return true;
	if (KIND(w) == SLOT_EXPIRED) {
		/* The watchdog answered: this late reply is dropped. */
		atomic_store(&s->state, WORD(SLOT_IDLE, GEN(w)));
		return false;
	}
	return true; /* no deadline was running */
}

/*
 * One look at every slot: answer the requests past their deadline, and
 * count the threads still stuck.  What the answer needs is read before
 * the slot is claimed: after the claim, the worker may start anew.
 */
static unsigned watch_once(uint64_t now)
{
	unsigned n = atomic_load(&slots_seen), stuck = 0;

	for (unsigned i = 0; i < n; i++) {
		struct slot *s = &slots[i];
		uint64_t w =
			atomic_load_explicit(&s->state, memory_order_acquire);
		struct stat attr;
		double attr_timeout = 0;
		bool with_attr;
		fuse_req_t req;

		if (KIND(w) == SLOT_EXPIRED)
			stuck++;
		/*
		 * A request begun after now was taken (this look was
		 * preempted) is young, not 2^64 ns old.
		 */
		if (KIND(w) != SLOT_BUSY ||
		    sc_elapsed_ns(atomic_load(&s->since_ns), now) <
			    dog.timeout_ns)
			continue;
		req = (fuse_req_t)atomic_load(&s->req);
		with_attr = atomic_load_explicit(&s->has_fallback,
						 memory_order_acquire);
		if (with_attr) {
			attr = s->fallback;
			attr_timeout = s->fallback_timeout;
		}
		if (!atomic_compare_exchange_strong(&s->state, &w,
						    WORD(SLOT_EXPIRED, GEN(w))))
			continue; /* it answered, or moved on, meanwhile */
		stuck++;
		if (!req)
			continue;
		atomic_fetch_add(&dog.expired, 1);
		if (with_attr)
			fuse_reply_attr(req, &attr, attr_timeout);
		else
			fuse_reply_err(req, ETIMEDOUT);
	}
	return stuck;
}

static void *watchdog_main(void *arg)
{
	unsigned was_stuck = 0, exited_looks = 0;

	(void)arg;
	pthread_mutex_lock(&dog.lock);
	while (!dog.stop) {
		struct timespec until =
			sc_timespec_after(CLOCK_REALTIME, WATCH_EVERY_NS);
		unsigned stuck;

		pthread_cond_timedwait(&dog.wake, &dog.lock, &until);
		if (dog.stop)
			break;
		pthread_mutex_unlock(&dog.lock);
		stuck = watch_once(sc_monotonic_coarse_ns());
		atomic_store(&dog.stuck, stuck);
		if (stuck && !was_stuck)
			sc_warn("the backing store has not answered for %llu s: requests that need it fail with ETIMEDOUT (backing_timeout=); cached data is still served",
				(unsigned long long)(dog.timeout_ns /
						     1000000000ull));
		else if (!stuck && was_stuck)
			sc_notice("the backing store answers again");
		was_stuck = stuck;
		/*
		 * Unmounted, but threads are still waiting on the backing
		 * store and the session cannot end without them: finish
		 * what matters (the cache's records) and leave.
		 */
		exited_looks =
			stuck && dog.fs->session &&
					fuse_session_exited(dog.fs->session)
				? exited_looks + 1
				: 0;
		if (exited_looks == 4 && dog.end_stuck(dog.fs)) {
			sc_warn("unmounted with %u thread%s still waiting on the backing store: exiting without them",
				stuck, stuck == 1 ? "" : "s");
			_exit(0);
		}
		pthread_mutex_lock(&dog.lock);
	}
	pthread_mutex_unlock(&dog.lock);
	return NULL;
}

int sc_deadline_start(struct sc_fs *fs, uint64_t timeout_ns,
		      bool (*end_stuck)(struct sc_fs *fs))
{
	int err;

	if (!timeout_ns)
		return 0;
	dog.fs = fs;
	dog.timeout_ns = timeout_ns;
	dog.end_stuck = end_stuck;
	dog.stop = false;
	err = pthread_create(&dog.thread, NULL, watchdog_main, NULL);
	if (err)
		return -err;
	pthread_setname_np(dog.thread, "watchdog");
	dog.running = true;
	return 0;
}

void sc_deadline_stop(void)
{
	if (!dog.running)
		return;
	pthread_mutex_lock(&dog.lock);
	dog.stop = true;
	pthread_cond_signal(&dog.wake);
	pthread_mutex_unlock(&dog.lock);
	pthread_join(dog.thread, NULL);
	dog.running = false;
}

uint64_t sc_deadline_expired(void)
{
	return atomic_load(&dog.expired);
}

unsigned sc_deadline_stuck(void)
{
	return atomic_load(&dog.stuck);
}
