/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE over io_uring (-o uring): the kernel (6.14 and later, with the
 * fuse module's enable_uring set) queues each request on a ring of the
 * CPU that issued it, and a thread pinned to that CPU answers it, so a
 * request and its reply no longer cross between CPUs the way a
 * /dev/fuse read by any free worker does.  libfuse 3.14 knows nothing of
 * it: the transport lives under libfuse's custom I/O hooks.  Requests
 * from the ring are handed to fuse_session_process_buf(); replies come
 * back through the writev hook and go to the ring entry of their
 * request.  FORGET and INTERRUPT (and INIT, before the rings exist)
 * still come through /dev/fuse and libfuse's own loop.
 */
#ifndef SC_URING_H
#define SC_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_session;
struct sc_uring;

/*
 * Why this kernel will not serve FUSE over io_uring, or NULL: it will;
 * *ret_root_can_allow: root can switch it on (the kernel has it).
 */
const char *sc_uring_refusal(bool *ret_root_can_allow);

/*
 * Installs the hooks on se (after fuse_session_mount, which opened the
 * session's fd) and starts threads_per_cpu threads for each CPU; they
 * register their ring entries once the INIT reply is out.  Returns 0 or
 * a negative errno; why says what a user can do about it.
 */
int sc_uring_start(struct fuse_session *se, unsigned threads_per_cpu,
		   struct sc_uring **out, char *why, size_t why_len);

/* Whether the kernel offered the ring at INIT (op_init asks, once). */
bool sc_uring_offered(const struct sc_uring *u);

/* Requests answered through the ring so far. */
uint64_t sc_uring_requests(const struct sc_uring *u);

/*
 * Where this thread may build the reply of the request it serves, size
 * bytes: its ring entry's payload, which the reply then needs no copy
 * into; NULL for a thread that serves no ring request.  Writes there go
 * under sc_deadline_hold(): once the watchdog answered the request, the
 * entry (payload and all) serves the next one.
 */
void *sc_uring_reply_space(size_t size);

/* After the session loop: ends the threads; NULL is a no-op. */
void sc_uring_stop(struct sc_uring *u);

#endif
