// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Thread-local io_uring rings with a sliding window of requests (see
 * ioring.h).  The ring is torn down by the thread-key destructor when its
 * thread exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "ioring.h"

/* At most this many requests are merged into one vectored request. */
#define MAX_MERGE 64u

/* One request on the ring: io[0..count) merged. */
struct group {
	struct sc_io *io;
	unsigned count;
	struct iovec *iov; /* NULL when count is 1 */
};

struct ring {
	struct io_uring uring;
	unsigned generation; /* fork_generation when it was made */
	unsigned inflight;   /* groups prepared and not yet reaped */
	unsigned nfree;
	uint16_t free_ids[SC_IORING_DEPTH];
	struct group groups[SC_IORING_DEPTH];
};

/* Each thread's data ring, and its ring for stat batches (kept apart: a
 * batch must not reap the data ring's completions, nor it a batch's). */
static pthread_key_t ring_key, stat_ring_key;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

/*
 * Rings are made and torn down under one lock.  liburing maps a ring's
 * memory with system calls of its own, which ThreadSanitizer does not
 * see: a new ring that lands where an exited thread's ring was would look
 * like that thread's memory, written without order.  The lock orders the
 * one after the other (it is taken once in a thread's life).
 */
static pthread_mutex_t ring_life_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Forks so far, in this process's line.  A ring belongs to the process that
 * made it: a single-issuer ring refuses a forked child's submissions (the
 * daemon forks once to go to the background, after it has opened and
 * read its cache), so the child's thread makes its own.
 */
static unsigned fork_generation;

static void after_fork_in_child(void)
{
	fork_generation++;
}

static void ring_free(void *p)
{
	struct ring *r = p;

	pthread_mutex_lock(&ring_life_lock);
	io_uring_queue_exit(&r->uring);
	pthread_mutex_unlock(&ring_life_lock);
	free(r);
}

static void ring_key_init(void)
{
	pthread_key_create(&ring_key, ring_free);
	pthread_key_create(&stat_ring_key, ring_free);
	pthread_atfork(NULL, NULL, after_fork_in_child);
}

/*
 * The calling thread's ring under key if it has one of this process
 * (never makes one); one left from before a fork is let go (the child's
 * copy of it: the parent's is its own).
 */
static struct ring *current_ring_of(pthread_key_t *key)
{
	struct ring *r;

	pthread_once(&ring_once, ring_key_init);
	r = pthread_getspecific(*key);
	if (r && r->generation != fork_generation) {
		ring_free(r);
		pthread_setspecific(*key, NULL);
		r = NULL;
	}
	return r;
}

static struct ring *current_ring(void)
{
	return current_ring_of(&ring_key);
}

/*
 * The calling thread's ring under key, made with depth entries if it has
 * none; NULL and -errno in *ret_err on failure.
 */
static struct ring *thread_ring_of(pthread_key_t *key, unsigned depth,
				   int *ret_err)
{
	struct ring *r;
	int ret;

	r = current_ring_of(key);
	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	/*
	 * Only this thread ever submits to its ring, and it reaps only when it
	 * waits: completions can run as task work deferred to then, not as
	 * interrupts of whatever the thread is doing; the kernel flags the
	 * ring when such work waits, for a thread that polls (poll_for()).
	 * Older kernels lack the flags: plain rings work there.
	 */
	pthread_mutex_lock(&ring_life_lock);
	ret = io_uring_queue_init(depth, &r->uring,
				  IORING_SETUP_SINGLE_ISSUER |
					  IORING_SETUP_DEFER_TASKRUN |
					  IORING_SETUP_TASKRUN_FLAG);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(depth, &r->uring, 0);
	pthread_mutex_unlock(&ring_life_lock);
	if (ret < 0) {
		free(r);
		*ret_err = ret;
		return NULL;
	}
	for (unsigned i = 0; i < SC_IORING_DEPTH; i++)
		r->free_ids[i] = (uint16_t)(SC_IORING_DEPTH - 1 - i);
	r->nfree = SC_IORING_DEPTH;
	r->generation = fork_generation;
	pthread_setspecific(*key, r);
	return r;
}

static struct ring *thread_ring(int *ret_err)
{
	return thread_ring_of(&ring_key, SC_IORING_DEPTH, ret_err);
}

void sc_io_settle(void)
{
	struct ring *r = current_ring();

	if (r)
		io_uring_get_events(&r->uring);
}

/* How many requests from io[0] can go as one: contiguous, one direction. */
static size_t mergeable(const struct sc_io *io, size_t n)
{
	size_t k = 1;

	while (k < n && k < MAX_MERGE && io[k].write == io[0].write &&
	       io[k].off == io[k - 1].off + io[k - 1].len)
		k++;
	return k;
}

/* A group's result is known: spread it over its members, in order. */
static void settle_group(struct ring *r, uint16_t id, int res)
{
	struct group *g = &r->groups[id];

	for (unsigned i = 0; i < g->count; i++) {
		struct sc_io *io = &g->io[i];

		if (res < 0) {
			io->res = res;
		} else {
			int got = res < (int)io->len ? res : (int)io->len;

			io->res = got;
			res -= got;
		}
		if (io->done)
			io->done(io);
	}
	free(g->iov);
	*g = (struct group){ .io = NULL };
	r->free_ids[r->nfree++] = id;
	r->inflight--;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/*
 * Submit what is prepared and watch the ring for up to poll_ns until want
 * completions are there, running the completion work the kernel flags
 * (a ring with deferred work posts nothing until its thread asks).
 * Whether they are there.
 *
 * Why poll: an idle CPU of a virtual machine halts, and the interrupt
 * that ends a device read then wakes it through the host, which costs
 * here about as much as the read itself; a thread that keeps its CPU
 * busy meanwhile takes the interrupt at once.  No pause instruction in
 * the loop: a hypervisor takes a run of them for a spinning lock holder
 * and may deschedule the CPU.
 */
static bool poll_for(struct ring *r, unsigned want, uint64_t poll_ns)
{
	uint64_t until = now_ns() + poll_ns;
	int ret;

	do {
		ret = io_uring_submit(&r->uring);
	} while (ret == -EINTR);
	if (ret < 0 && ret != -EBUSY && ret != -EAGAIN)
		return false; /* the wait that follows says what failed */
	do {
		if (IO_URING_READ_ONCE(*r->uring.sq.kflags) & IORING_SQ_TASKRUN)
			io_uring_get_events(&r->uring);
		if (io_uring_cq_ready(&r->uring) >= want)
			return true;
	} while (now_ns() < until);
	return false;
}

/*
 * Reap at least want completions (submitting what is prepared first: one
 * system call for both; or polling for them first, for up to poll_ns),
 * and every other one already there.  0 or a negative errno.
 */
static int reap(struct ring *r, unsigned want, uint64_t poll_ns)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int ret;

	if (!(poll_ns && poll_for(r, want, poll_ns))) {
		do {
			ret = io_uring_submit_and_wait(&r->uring, want);
		} while (ret == -EINTR);
		if (ret < 0 && ret != -EBUSY && ret != -EAGAIN)
			return ret;
	}
	do {
		ret = io_uring_wait_cqe(&r->uring, &cqe);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	io_uring_for_each_cqe(&r->uring, head, cqe)
	{
		settle_group(r, (uint16_t)io_uring_cqe_get_data64(cqe),
			     cqe->res);
		seen++;
	}
	io_uring_cq_advance(&r->uring, seen);
	return 0;
}

/*
 * The ring failed: wait for what the kernel has, fail what it never saw,
 * and drop the ring (the thread makes a new one on its next request).
 */
static int ring_failed(struct ring *r, int err)
{
	unsigned unsent = io_uring_sq_ready(&r->uring);

	while (r->inflight > unsent) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&r->uring, &cqe) < 0)
			break;
		settle_group(r, (uint16_t)io_uring_cqe_get_data64(cqe),
			     cqe->res);
		io_uring_cqe_seen(&r->uring, cqe);
	}
	for (unsigned id = 0; id < SC_IORING_DEPTH && r->inflight; id++)
		if (r->groups[id].io)
			settle_group(r, (uint16_t)id, err);
	pthread_setspecific(ring_key, NULL);
	ring_free(r);
	return err;
}

static void fail_rest(struct sc_io *io, size_t n, int err)
{
	for (size_t i = 0; i < n; i++) {
		io[i].res = err;
		if (io[i].done)
			io[i].done(&io[i]);
	}
}

/*
 * Take a group id for io[0..count) and its submission entry, tagged with
 * the id; the caller prepares the entry (liburing's prep functions leave
 * the tag alone).  There is always room: at most SC_IORING_DEPTH groups
 * are in flight, and the ring has as many entries.
 */
static struct io_uring_sqe *take_group(struct ring *r, struct sc_io *io,
				       unsigned count, struct group **ret_g)
{
	uint16_t id = r->free_ids[--r->nfree];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);

	r->groups[id] = (struct group){ .io = io, .count = count };
	io_uring_sqe_set_data64(sqe, id);
	r->inflight++;
	*ret_g = &r->groups[id];
	return sqe;
}

/* A read or write of one request; a vectored one of a merged run. */
static void prep_group(struct io_uring_sqe *sqe, int fd, struct group *g)
{
	const struct sc_io *io = g->io;

	if (g->count == 1) {
		if (io->write)
			io_uring_prep_write(sqe, fd, io->buf, io->len, io->off);
		else
			io_uring_prep_read(sqe, fd, io->buf, io->len, io->off);
		return;
	}
	for (unsigned i = 0; i < g->count; i++)
		g->iov[i] = (struct iovec){ io[i].buf, io[i].len };
	if (io->write)
		io_uring_prep_writev(sqe, fd, g->iov, g->count, io->off);
	else
		io_uring_prep_readv(sqe, fd, g->iov, g->count, io->off);
}

/* Hand what is prepared to the kernel; 0 or the ring's failure. */
static int submit_prepared(struct ring *r)
{
	int err;

	do {
		err = io_uring_submit(&r->uring);
	} while (err == -EINTR);
	if (err < 0 && err != -EBUSY && err != -EAGAIN)
		return ring_failed(r, err);
	return 0;
}

/*
 * Prepare the n requests on r, reaping (which submits what is prepared)
 * whenever depth are in flight.  0, or the ring's failure.
 */
static int queue_all(struct ring *r, int fd, struct sc_io *io, size_t n,
		     unsigned depth)
{
	bool sliding = false;

	for (size_t done = 0; done < n;) {
		size_t k = mergeable(io + done, n - done);
		struct io_uring_sqe *sqe;
		struct group *g;

		while (r->inflight >= depth) {
			int err = reap(r, 1, 0); /* the window slides */

			if (err < 0) {
				fail_rest(io + done, n - done, err);
				return ring_failed(r, err);
			}
			sliding = true;
		}
		sqe = take_group(r, io + done, (unsigned)k, &g);
		if (k > 1) {
			g->iov = malloc(k * sizeof(*g->iov));
			if (!g->iov) /* no memory to merge: go one by one */
				g->count = 1;
		}
		prep_group(sqe, fd, g);
		for (unsigned i = 0; i < g->count; i++)
			io[done + i].res = -EINPROGRESS;
		done += g->count;
		/*
		 * Once the window slides, each refill goes to the device at
		 * once, as fio's does, not with the next wait: a burst of
		 * refills submitted together reaches the device later and as
		 * one plugged batch (bench/README.md, measurements).
		 */
		if (sliding) {
			int err = submit_prepared(r);

			if (err < 0) {
				fail_rest(io + done, n - done, err);
				return err;
			}
		}
	}
	return 0;
}

/*
 * Prepare the n requests on the calling thread's ring, keeping at most
 * depth (0: the widest window) in flight; *ret_r is the ring.  0, or a
 * negative errno with the requests not done failed.
 */
static int queue_on_ring(int fd, struct sc_io *io, size_t n, unsigned depth,
			 struct ring **ret_r)
{
	int err = 0;
	struct ring *r = thread_ring(&err);

	if (!r) {
		fail_rest(io, n, err);
		return err;
	}
	if (depth == 0 || depth > SC_IORING_DEPTH)
		depth = SC_IORING_DEPTH;
	*ret_r = r;
	return queue_all(r, fd, io, n, depth);
}

int sc_io_submit(int fd, struct sc_io *io, size_t n, unsigned depth)
{
	struct ring *r;
	int err = queue_on_ring(fd, io, n, depth, &r);

	if (err < 0)
		return err;
	/* Start the device on what is prepared; reaping comes later. */
	return submit_prepared(r);
}

int sc_io_wait(struct sc_io *io, size_t n)
{
	struct ring *r = current_ring();

	for (size_t i = 0; i < n; i++) {
		/* Queued, so this thread has a ring (unless it failed them). */
		while (r && io[i].res == -EINPROGRESS) {
			int err = reap(r, 1, 0);

			if (err < 0)
				return ring_failed(r, err);
		}
	}
	return 0;
}

/* Wait for every request of r, polling for up to poll_ns first. */
static int drain(struct ring *r, uint64_t poll_ns)
{
	while (r && r->inflight) {
		/* All at once: a batch's data and trailer reads, one wait. */
		int err = reap(r, r->inflight, poll_ns);

		if (err < 0)
			return ring_failed(r, err);
	}
	return 0;
}

int sc_io_drain(void)
{
	return drain(current_ring(), 0);
}

int sc_io_batch_poll(int fd, struct sc_io *io, size_t n, unsigned depth,
		     uint64_t poll_ns)
{
	struct ring *r;
	/*
	 * Prepared only: the first wait submits them, one system call for
	 * a batch (a single read is most batches) instead of two.
	 */
	int err = queue_on_ring(fd, io, n, depth, &r);

	return err < 0 ? err : drain(r, poll_ns);
}

int sc_io_batch(int fd, struct sc_io *io, size_t n, unsigned depth)
{
	return sc_io_batch_poll(fd, io, n, depth, 0);
}

int sc_io_datasync(int fd)
{
	int err = sc_io_drain();

	if (err < 0)
		return err;
	/*
	 * fdatasync(2) itself, not the ring's: io_uring runs a sync on one of
	 * its worker threads (a hand-off each way while we wait anyway), and
	 * that worker may keep the file referenced, and a flock() on it
	 * held, for a while after the caller has closed it.
	 */
	return fdatasync(fd) < 0 ? -errno : 0;
}

/* ---- stats of many names at once (the daemon's, of BACKING) ---- */

/*
 * Queue reqs[next..n), up to room of them; how many were queued.  A
 * request's tag is its index.
 */
static size_t queue_stats(struct io_uring *ring, int dir_fd,
			  struct sc_stat_req *reqs, size_t next, size_t n,
			  size_t room)
{
	size_t queued = 0;
	struct io_uring_sqe *sqe;

	while (next + queued < n && queued < room &&
	       (sqe = io_uring_get_sqe(ring))) {
		struct sc_stat_req *q = &reqs[next + queued];

		io_uring_prep_statx(sqe, dir_fd, q->name, AT_SYMLINK_NOFOLLOW,
				    STATX_BASIC_STATS | STATX_BTIME, &q->stx);
		io_uring_sqe_set_data64(sqe, next + queued);
		q->res = -EINPROGRESS;
		queued++;
	}
	return queued;
}

/*
 * The calling thread's ring for stat batches, made on its first batch
 * with as many kernel workers as requests in flight (the default is four
 * per CPU; the second figure, for unbounded work, is left as it is).
 */
static struct ring *stat_ring(int *ret_err)
{
	bool made = !current_ring_of(&stat_ring_key);
	struct ring *r =
		thread_ring_of(&stat_ring_key, SC_STAT_BATCH_WIDTH, ret_err);
	unsigned workers[2] = { SC_STAT_BATCH_WIDTH, 0 };

	if (r && made)
		io_uring_register_iowq_max_workers(&r->uring, workers);
	return r;
}

int sc_io_stat_batch(int dir_fd, struct sc_stat_req *reqs, size_t n)
{
	size_t next = 0, inflight = 0;
	int err = 0;
	struct ring *r = stat_ring(&err);

	if (!r) {
		for (size_t i = 0; i < n; i++)
			reqs[i].res = err;
		return err;
	}
	while (err == 0 && (next < n || inflight)) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		size_t queued = queue_stats(&r->uring, dir_fd, reqs, next, n,
					    SC_STAT_BATCH_WIDTH - inflight);

		next += queued;
		inflight += queued;
		do {
			err = io_uring_submit_and_wait(&r->uring, 1);
		} while (err == -EINTR);
		if (err < 0)
			break;
		err = 0;
		io_uring_for_each_cqe(&r->uring, head, cqe)
		{
			reqs[io_uring_cqe_get_data64(cqe)].res =
				cqe->res < 0 ? cqe->res : 0;
			seen++;
		}
		io_uring_cq_advance(&r->uring, seen);
		inflight -= seen;
	}
	if (err == 0)
		return 0;
	/* A failed ring: what it took is waited for, the rest fails, and
	 * the ring is dropped (the next batch makes a new one). */
	while (inflight) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&r->uring, &cqe) < 0)
			break;
		reqs[io_uring_cqe_get_data64(cqe)].res = cqe->res < 0 ? cqe->res
								      : 0;
		io_uring_cqe_seen(&r->uring, cqe);
		inflight--;
	}
	for (size_t i = 0; i < n; i++)
		if (i >= next || reqs[i].res == -EINPROGRESS)
			reqs[i].res = err;
	pthread_setspecific(stat_ring_key, NULL);
	ring_free(r);
	return err;
}
