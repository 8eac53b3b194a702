/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Request deadlines: a backing store that stops answering (a stopped NFS
 * or SSH server) must not hang the processes that use the mount.
 *
 * Each thread that serves requests has a slot saying which request it is
 * on and since when.  A watchdog thread looks at the slots once every
 * quarter second and answers a request older than backing_timeout with
 * ETIMEDOUT itself; the worker, when its backing call returns at last,
 * finds its request answered and drops its own reply.  Exactly one reply
 * goes out: both sides claim the slot with one compare-and-swap.  The hot
 * path costs a coarse clock read and two atomic operations, no hand-off.
 *
 * A worker stuck in a backing call keeps its thread; at unmount the
 * watchdog ends the process (after committing the cache) rather than
 * wait for threads that may never come back.
 */
#ifndef SC_DEADLINE_H
#define SC_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

struct sc_fs;

/*
 * This thread starts on req (NULL for work that answers no request, such
 * as read-ahead: it is only counted as stuck).  Returns false when no
 * slot could be had (too many threads): the request just has no deadline.
 */
bool sc_deadline_begin(fuse_req_t req);

/*
 * Should this thread's request (a getattr) expire, answer it with attr
 * (copied) and timeout instead of ETIMEDOUT.
 */
void sc_deadline_fallback_attr(const struct stat *attr, double timeout);

/* This thread's request may wait as long as it likes (a blocking lock). */
void sc_deadline_exempt(void);

/*
 * This thread writes its reply where the watchdog's answer would be sent
 * from too (a FUSE over io_uring entry's payload, uring.c): until
 * sc_deadline_release() or the reply, the watchdog leaves its request
 * alone.  False when the watchdog has answered it already: nothing may
 * be written there any more.  (A wait on the device holds the request:
 * the watchdog is there for BACKING.)
 */
bool sc_deadline_hold(void);
void sc_deadline_release(void);

/*
 * A holding thread is about to wait on BACKING, and writes nothing of
 * its reply meanwhile: the watchdog may answer its request until
 * sc_deadline_wait_end(), which holds it again.  wait_end says false
 * once the watchdog has answered (and stays false until the next
 * request): nothing may be written any more.  Without a hold, begin does
 * nothing and end says true.
 */
void sc_deadline_wait_begin(void);
bool sc_deadline_wait_end(void);

/*
 * This thread is about to answer its request: true if it still may (and
 * its clock stops), false if the watchdog answered it already.
 */
bool sc_deadline_own_reply(void);

/*
 * Start the watchdog: requests older than timeout_ns get ETIMEDOUT (0:
 * no deadline, nothing is started).  When the session has ended but
 * threads are still stuck, the watchdog calls end_stuck(fs), and exits
 * the process with status 0 if it returns true (false: the main thread
 * is ending the mount itself).
 */
int sc_deadline_start(struct sc_fs *fs, uint64_t timeout_ns,
		      bool (*end_stuck)(struct sc_fs *fs));

/* Stop the watchdog (after the session ended and every thread is back). */
void sc_deadline_stop(void);

/* Requests answered by the watchdog so far, for the stats. */
uint64_t sc_deadline_expired(void);

/* Threads now stuck past their deadline. */
unsigned sc_deadline_stuck(void);

#endif
