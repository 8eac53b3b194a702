/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * All cache-device I/O goes through io_uring.  Each thread that does I/O
 * owns a ring of its own, made on first use: a FUSE worker submits its
 * reads and reaps its own completions, so it never waits on another
 * thread's I/O and no completion is handed across CPUs (a cross-CPU
 * wake-up costs more than an SSD read here).  A batch of requests is
 * submitted with one system call and waited for together.
 */
#ifndef SC_IORING_H
#define SC_IORING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sc_io {
	void *buf; /* aligned for O_DIRECT */
	uint32_t len;
	uint64_t off;
	bool write;
	int res; /* out: bytes transferred or a negative errno */
};

/*
 * Entries of a thread's ring; a larger batch is done in rounds.  Requests
 * next to each other in the array whose device ranges touch (same
 * direction) are merged into one vectored request first.
 */
#define SC_IORING_DEPTH 256u

/*
 * Do the n requests on fd, submitted together, and wait for all of them.
 * Returns 0 when every request ran (each has its own res), or a negative
 * errno when the ring itself failed.
 */
int sc_io_batch(int fd, struct sc_io *io, size_t n);

/* fdatasync(fd) through the ring. */
int sc_io_datasync(int fd);

#endif
