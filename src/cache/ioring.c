// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Thread-local io_uring rings (see ioring.h).  The ring is torn down by
 * the thread-key destructor when its thread exits.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "ioring.h"

static pthread_key_t ring_key;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

static void ring_free(void *p)
{
	struct io_uring *ring = p;

	io_uring_queue_exit(ring);
	free(ring);
}

static void ring_key_init(void)
{
	pthread_key_create(&ring_key, ring_free);
}

/* The calling thread's ring; NULL and -errno in *ret_err on failure. */
static struct io_uring *thread_ring(int *ret_err)
{
	struct io_uring *ring;
	int ret;

	pthread_once(&ring_once, ring_key_init);
	ring = pthread_getspecific(ring_key);
	if (ring)
		return ring;
	ring = calloc(1, sizeof(*ring));
	if (!ring) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	ret = io_uring_queue_init(SC_IORING_DEPTH, ring, 0);
	if (ret < 0) {
		free(ring);
		*ret_err = ret;
		return NULL;
	}
	pthread_setspecific(ring_key, ring);
	return ring;
}

/* At most this many requests are merged into one vectored request. */
#define MAX_MERGE 64u

/* How many requests from io[0] can go as one: contiguous, one direction. */
static size_t mergeable(const struct sc_io *io, size_t n)
{
	size_t k = 1;

	while (k < n && k < MAX_MERGE && io[k].write == io[0].write &&
	       io[k].off == io[k - 1].off + io[k - 1].len)
		k++;
	return k;
}

/* Spread a merged request's result over its members, in order. */
static void settle_group(struct sc_io *io, size_t k, int res)
{
	for (size_t i = 0; i < k; i++) {
		if (res < 0) {
			io[i].res = res;
		} else {
			int got = res < (int)io[i].len ? res : (int)io[i].len;

			io[i].res = got;
			res -= got;
		}
	}
}

/*
 * Submit up to SC_IORING_DEPTH merged requests starting at io and reap
 * their completions; returns how many of io[] were done, or -errno.
 */
static ssize_t run_round(struct io_uring *ring, int fd, struct sc_io *io,
			 size_t n, struct iovec *iov)
{
	size_t first[SC_IORING_DEPTH], count[SC_IORING_DEPTH];
	unsigned groups = 0, reaped = 0;
	size_t done = 0;
	int ret;

	while (done < n && groups < SC_IORING_DEPTH) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		size_t k = mergeable(io + done, n - done);

		for (size_t i = 0; i < k; i++) {
			iov[done + i].iov_base = io[done + i].buf;
			iov[done + i].iov_len = io[done + i].len;
			io[done + i].res = -EINPROGRESS;
		}
		if (io[done].write)
			io_uring_prep_writev(sqe, fd, iov + done, (unsigned)k,
					     io[done].off);
		else
			io_uring_prep_readv(sqe, fd, iov + done, (unsigned)k,
					    io[done].off);
		io_uring_sqe_set_data64(sqe, groups);
		first[groups] = done;
		count[groups] = k;
		groups++;
		done += k;
	}
	ret = io_uring_submit_and_wait(ring, groups);
	if (ret < 0)
		return ret;
	while (reaped < groups) {
		struct io_uring_cqe *cqe;
		uint64_t g;

		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		g = io_uring_cqe_get_data64(cqe);
		settle_group(io + first[g], count[g], cqe->res);
		io_uring_cqe_seen(ring, cqe);
		reaped++;
	}
	return (ssize_t)done;
}

int sc_io_batch(int fd, struct sc_io *io, size_t n)
{
	struct io_uring *ring;
	struct iovec *iov;
	int err = 0;

	ring = thread_ring(&err);
	if (!ring)
		return err;
	iov = calloc(n ? n : 1, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	for (size_t done = 0; done < n;) {
		ssize_t ret =
			run_round(ring, fd, io + done, n - done, iov + done);

		if (ret < 0) {
			free(iov);
			return (int)ret;
		}
		done += (size_t)ret;
	}
	free(iov);
	return 0;
}

int sc_io_datasync(int fd)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring *ring;
	int err = 0, ret;

	ring = thread_ring(&err);
	if (!ring)
		return err;
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	ret = io_uring_submit_and_wait(ring, 1);
	if (ret < 0)
		return ret;
	do {
		ret = io_uring_wait_cqe(ring, &cqe);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}
