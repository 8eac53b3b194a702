/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * All cache-device I/O goes through io_uring.  Each thread that does I/O
 * owns a ring of its own, made on first use: a FUSE worker submits its
 * reads and reaps its own completions, so it never waits on another
 * thread's I/O and no completion is handed across CPUs (a cross-CPU
 * wake-up costs more than an SSD read here).
 *
 * Requests are queued with sc_io_submit() and kept in flight as a sliding
 * window: when the window is full, completions are reaped (and their
 * callbacks run) to make room, and each request that takes a freed place
 * goes to the device at once, so the device always has work while the
 * caller prepares the next request.  sc_io_drain() waits for the rest.
 */
#ifndef SC_IORING_H
#define SC_IORING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct sc_io;

/*
 * Called on the submitting thread once io->res is known, from
 * sc_io_submit() or sc_io_drain(): the place to verify data while the
 * device works on the requests behind it.  It must not submit I/O.
 */
typedef void sc_io_done_fn(struct sc_io *io);

struct sc_io {
	void *buf; /* aligned for O_DIRECT */
	uint32_t len;
	uint64_t off;
	bool write;
	int res;	     /* out: bytes transferred or a negative errno */
	sc_io_done_fn *done; /* optional */
	void *ctx;	     /* for done */
};

/*
 * Entries of a thread's ring: the widest window.  Requests next to each
 * other in one submission whose device ranges touch (same direction) are
 * merged into one vectored request first.
 */
#define SC_IORING_DEPTH 256u

/*
 * Queue the n requests on fd, keeping at most depth (1..SC_IORING_DEPTH)
 * requests of this thread in flight.  io[] must stay valid until drained.
 * Returns 0, or a negative errno when the ring itself failed (the
 * requests not done then have that as res).
 */
int sc_io_submit(int fd, struct sc_io *io, size_t n, unsigned depth);

/* Wait for every request this thread queued; 0 or as sc_io_submit(). */
int sc_io_drain(void);

/*
 * Wait until the n requests io[] this thread queued are done, settling
 * any others that finish meanwhile; 0 or as sc_io_submit().
 */
int sc_io_wait(struct sc_io *io, size_t n);

/*
 * Run this thread's deferred completion work: a request that finished on
 * one of the kernel's worker threads holds its file (and a flock() on it)
 * until its submitter does, even after the caller closed its fd.
 */
void sc_io_settle(void);

/*
 * sc_io_submit() then sc_io_drain(), in one system call when the n
 * requests fit in depth (0: the widest window).
 */
int sc_io_batch(int fd, struct sc_io *io, size_t n, unsigned depth);

/*
 * sc_io_batch(), with the calling thread polling for the completions for
 * up to poll_ns before it sleeps (it keeps its CPU busy meanwhile): for a
 * reader that waits alone on a short read, where a sleep and a wake-up
 * cost as much as the device (see ioring.c).
 */
int sc_io_batch_poll(int fd, struct sc_io *io, size_t n, unsigned depth,
		     uint64_t poll_ns);

/* fdatasync(2) of fd, after the thread's queued requests are done. */
int sc_io_datasync(int fd);

/*
 * Stats of many names at once, for the daemon's questions to BACKING: on
 * a network filesystem each stat is a round trip to the server, and the
 * kernel's io_uring workers run a batch's side by side, so the batch
 * costs a few round trips instead of one each.  On a ring of its own,
 * made for the batch: these wait on the network, not on the device.
 */
struct sc_stat_req {
	const char *name; /* below the batch's dir_fd; not followed if a link */
	struct statx stx; /* out: STATX_BASIC_STATS | STATX_BTIME asked */
	int res;	  /* out: 0 or a negative errno */
};

/* At most this many at once; a longer batch goes in turns. */
#define SC_STAT_BATCH_WIDTH 32u

/*
 * Stat reqs[0..n) below dir_fd.  0, or a negative errno when io_uring
 * itself failed (each req not done then has that as res).
 */
int sc_io_stat_batch(int dir_fd, struct sc_stat_req *reqs, size_t n);

#endif
