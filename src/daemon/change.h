/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A file's contents change through the mount: the daemon's side of it,
 * which knows the inode (its name, its open handles); the cache's side is
 * sc_object_changed (src/cache/objects.h).
 */
#ifndef SC_CHANGE_H
#define SC_CHANGE_H

#include <stdint.h>

#include "fs.h"

/* The object name of inode by its current path; 0 when unknown. */
uint64_t sc_object_of_inode(struct sc_fs *fs, struct sc_inode *inode);

/*
 * The contents or size of inode's file (object, 0 when not known) change
 * through the mount, or just did: called before the change and after it.
 * Beside sc_object_changed, the handles opened before it stop reading
 * what was cached at their open (rw.c): a handle's size at open no
 * longer bounds its reads once the file grew under it (a read ending
 * there would tell the kernel the file shrank), nor are its pages the
 * file's.
 */
void sc_file_changing(struct sc_fs *fs, struct sc_inode *inode,
		      uint64_t object);

#endif
