// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Thread-local io_uring rings (see ioring.h).  The ring is torn down by
 * the thread-key destructor when its thread exits.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>

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

/* Submit up to SC_IORING_DEPTH requests and reap all their completions. */
static int run_round(struct io_uring *ring, int fd, struct sc_io *io, size_t n)
{
	size_t reaped = 0;
	int ret;

	for (size_t i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (io[i].write)
			io_uring_prep_write(sqe, fd, io[i].buf, io[i].len,
					    io[i].off);
		else
			io_uring_prep_read(sqe, fd, io[i].buf, io[i].len,
					   io[i].off);
		io_uring_sqe_set_data64(sqe, i);
		io[i].res = -EINPROGRESS;
	}
	ret = io_uring_submit_and_wait(ring, (unsigned)n);
	if (ret < 0)
		return ret;
	while (reaped < n) {
		struct io_uring_cqe *cqe;

		ret = io_uring_wait_cqe(ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		io[io_uring_cqe_get_data64(cqe)].res = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		reaped++;
	}
	return 0;
}

int sc_io_batch(int fd, struct sc_io *io, size_t n)
{
	struct io_uring *ring;
	int err = 0;

	ring = thread_ring(&err);
	if (!ring)
		return err;
	for (size_t done = 0; done < n; done += SC_IORING_DEPTH) {
		size_t round = n - done < SC_IORING_DEPTH ? n - done
							  : SC_IORING_DEPTH;
		int ret = run_round(ring, fd, io + done, round);

		if (ret < 0)
			return ret;
	}
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
