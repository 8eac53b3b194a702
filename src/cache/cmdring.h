/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A thread's ring of commands to a device (IORING_OP_URING_CMD), as FUSE
 * over io_uring takes them: 128-byte entries, the device registered as the
 * ring's one file, and a poll of a stop eventfd armed from the start.  The
 * daemon's FUSE transport (src/daemon/uring.c) speaks to the kernel
 * through it, so that liburing stays inside this module (STYLE rule 7).
 */
#ifndef SC_CMDRING_H
#define SC_CMDRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sc_cmdring;

/* The tag of the stop poll's completion: the stop eventfd is readable. */
#define SC_CMDRING_STOP 1ull

/* Bytes of a command's own data in a 128-byte entry. */
#define SC_CMDRING_CMD_BYTES 80u

/*
 * A ring of depth entries (the stop poll takes one) for commands to fd,
 * watching stop_fd.  0 or a negative errno.
 */
int sc_cmdring_create(int fd, int stop_fd, unsigned depth,
		      struct sc_cmdring **ret);
void sc_cmdring_destroy(struct sc_cmdring *r);

/*
 * Queue command op to the device with cmd (cmd_len, at most
 * SC_CMDRING_CMD_BYTES) and the buffer (addr, len), which may be NULL and
 * 0; tag (not SC_CMDRING_STOP) comes back with its completion.  0, or
 * -EBUSY when every entry is taken.
 */
int sc_cmdring_queue(struct sc_cmdring *r, uint32_t op, const void *cmd,
		     size_t cmd_len, const void *addr, uint32_t len,
		     uint64_t tag);

/* Send what is queued.  The entries sent, or a negative errno. */
int sc_cmdring_submit(struct sc_cmdring *r);

/* Send what is queued and wait for a completion: 0 or a negative errno. */
int sc_cmdring_submit_and_wait(struct sc_cmdring *r);

/* Take a completion: true with its tag and result, false when none. */
bool sc_cmdring_take(struct sc_cmdring *r, uint64_t *ret_tag, int *ret_res);

#endif
