/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Acting as the caller.  A daemon mounted by root with allow_other serves
 * every user; each backing call is made with the caller's fsuid, fsgid and
 * supplementary groups so that new files belong to the caller and the
 * backing store (ACLs, NFS root squash and all) makes its own permission
 * decisions.  The credentials are per thread at the kernel level; the
 * raw syscalls are used because glibc's setgroups() would broadcast to
 * every thread.
 */
#ifndef SC_CREDS_H
#define SC_CREDS_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

struct sc_creds {
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

/* How the groups of a caller are found; libfuse reads /proc for them. */
typedef int (*sc_creds_groups_fn)(void *arg, int size, gid_t *list);

/*
 * Make the calling thread act as caller.  Switches lazily: a thread that
 * served the same caller within the last second keeps its identity, and
 * the groups are read only when the caller changes.  Returns 0 or a
 * negative errno.
 */
int sc_creds_become(const struct sc_creds *caller, sc_creds_groups_fn groups,
		    void *groups_arg);

/* Return the calling thread to the daemon's own identity. */
int sc_creds_restore(void);

/*
 * Whether the identity this thread acts with may access a file of
 * attributes st for mask (R_OK, W_OK, X_OK), by its mode bits as the
 * kernel would decide: for answers given from the metadata cache without
 * asking BACKING.  0 or -EACCES.
 */
int sc_creds_may(const struct stat *st, int mask);

/*
 * The supplementary groups of process *(pid_t *)arg, read from /proc as
 * libfuse's fuse_req_getgroups() does, but from the pid alone (after its
 * deadline starts, a request must not be looked at): an sc_creds_groups_fn.
 * Returns how many there are (more than size: only size were stored) or
 * a negative errno.
 */
int sc_creds_groups_of_pid(void *arg, int size, gid_t *list);

#endif
