// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Command rings (see cmdring.h): a thin layer over liburing for the
 * daemon's FUSE transport, apart from ioring.c, whose rings carry the
 * cache device's reads and writes.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "cmdring.h"

struct sc_cmdring {
	struct io_uring ring;
};

_Static_assert(SC_CMDRING_CMD_BYTES <=
		       2 * sizeof(struct io_uring_sqe) -
			       offsetof(struct io_uring_sqe, cmd),
	       "a command fits its 128-byte entry");

/* An entry, cleared whole (both halves of a 128-byte one). */
static struct io_uring_sqe *get_entry(struct sc_cmdring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (sqe)
		memset(sqe, 0, 2 * sizeof(*sqe));
	return sqe;
}

int sc_cmdring_create(int fd, int stop_fd, unsigned depth,
		      struct sc_cmdring **ret)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SQE128 };
	struct sc_cmdring *r = calloc(1, sizeof(*r));
	struct io_uring_sqe *sqe;
	int err;

	if (!r)
		return -ENOMEM;
	err = io_uring_queue_init_params(depth, &r->ring, &p);
	if (err < 0) {
		free(r);
		return err;
	}
	err = io_uring_register_files(&r->ring, &fd, 1);
	sqe = err < 0 ? NULL : get_entry(r);
	if (!sqe) {
		sc_cmdring_destroy(r);
		return err < 0 ? err : -EBUSY;
	}
	io_uring_prep_poll_add(sqe, stop_fd, POLLIN);
	sqe->user_data = SC_CMDRING_STOP;
	*ret = r;
	return 0;
}

void sc_cmdring_destroy(struct sc_cmdring *r)
{
	if (!r)
		return;
	io_uring_queue_exit(&r->ring);
	free(r);
}

int sc_cmdring_queue(struct sc_cmdring *r, uint32_t op, const void *cmd,
		     size_t cmd_len, const void *addr, uint32_t len,
		     uint64_t tag)
{
	struct io_uring_sqe *sqe = get_entry(r);

	if (!sqe)
		return -EBUSY;
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->fd = 0; /* the registered device */
	sqe->cmd_op = op;
	sqe->user_data = tag;
	sqe->addr = (uintptr_t)addr;
	sqe->len = len;
	memcpy(sqe->cmd, cmd,
	       cmd_len < SC_CMDRING_CMD_BYTES ? cmd_len : SC_CMDRING_CMD_BYTES);
	return 0;
}

int sc_cmdring_submit(struct sc_cmdring *r)
{
	return io_uring_submit(&r->ring);
}

int sc_cmdring_submit_and_wait(struct sc_cmdring *r)
{
	int ret = io_uring_submit_and_wait(&r->ring, 1);

	return ret < 0 ? ret : 0;
}

bool sc_cmdring_take(struct sc_cmdring *r, uint64_t *ret_tag, int *ret_res)
{
	struct io_uring_cqe *cqe;

	if (io_uring_peek_cqe(&r->ring, &cqe) != 0)
		return false;
	*ret_tag = cqe->user_data;
	*ret_res = cqe->res;
	io_uring_cqe_seen(&r->ring, cqe);
	return true;
}
