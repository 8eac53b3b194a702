// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Changes through the mount (see change.h).
 */
#include <limits.h>

#include "change.h"

uint64_t sc_object_of_inode(struct sc_fs *fs, struct sc_inode *inode)
{
	char path[PATH_MAX];

	if (!fs->store ||
	    sc_itable_path(&fs->itable, inode, path, sizeof(path)) < 0)
		return 0;
	return sc_object_name(&fs->objects, path);
}

void sc_file_changing(struct sc_fs *fs, struct sc_inode *inode, uint64_t object)
{
	atomic_fetch_add(&inode->changes, 1);
	sc_object_changed(&fs->objects, object);
}
