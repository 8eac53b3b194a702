/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The user.swapcache.* extended attributes (see include/ctl.h): the stats
 * text and the tunables, served by the daemon itself.
 */
#ifndef SC_CONTROL_H
#define SC_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fs.h"

/* Whether name is one of ours (under user.swapcache.). */
bool sc_ctl_owns(const char *name);

/*
 * The value of name on the root into buf (len bytes; a NULL buf asks
 * for the length).  Returns the length, -ENODATA, or -ERANGE.
 */
ssize_t sc_ctl_get(struct sc_fs *fs, const char *name, char *buf, size_t len);

/*
 * Set name on the root to value (not NUL-terminated) for caller uid.
 * Returns 0, -EPERM (not root nor the mounting user), -EINVAL (not a
 * tunable, or a bad value: logged).
 */
int sc_ctl_set(struct sc_fs *fs, uid_t caller, const char *name,
	       const char *value, size_t size);

/*
 * Our names, NUL-separated, appended to a listxattr reply: into buf when
 * len allows.  Returns the bytes they take.
 */
size_t sc_ctl_list(char *buf, size_t len);

/*
 * With both tunables endurance and lifetime set, derive accrate from them
 * and from what the drive has written (wear.h); called at mount and when
 * either changes.
 */
void sc_ctl_apply_wear_budget(struct sc_fs *fs);

/*
 * user.swapcache.residency of the regular file at path (below BACKING)
 * whose attributes are st: the bytes of its current contents on the SSD
 * and in RAM, and its size, as "name: value" lines.  As sc_ctl_get.
 */
ssize_t sc_ctl_residency(struct sc_fs *fs, const char *path,
			 const struct stat *st, char *buf, size_t len);

/* The stats text into buf; returns its length (may exceed len). */
size_t sc_ctl_stats(struct sc_fs *fs, char *buf, size_t len);

#endif
