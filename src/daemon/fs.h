/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state of one mount, shared by every FUSE operation: the backing
 * directory, the inode table and the settings taken from the options.
 */
#ifndef SC_FS_H
#define SC_FS_H

#include <stdbool.h>
#include <stdint.h>

#include <pthread.h>
#include <stdatomic.h>

#include "dirprime.h"
#include "inode.h"
#include "nvme.h"
#include "objects.h"
#include "options.h"
#include "tiers.h"
#include "tunables.h"

struct fuse_session;
struct sc_meta;
struct sc_policy;
struct sc_prefetch;
struct sc_walkahead;
struct sc_pool;
struct sc_readahead;
struct sc_scanner;
struct sc_store;
struct sc_uring;

struct sc_fs {
	int root_fd;		 /* O_PATH fd of BACKING; immutable */
	char backing_path[4096]; /* realpath of BACKING; immutable */
	struct sc_itable itable;
	const struct sc_options *opts;
	bool switch_creds;     /* act with each caller's fsuid/fsgid */
	double attr_timeout_s; /* from opts, in the unit libfuse takes */
	double entry_timeout_s;
	double negative_timeout_s;
	struct fuse_session *session;
	struct sc_uring *uring;	    /* NULL unless -o uring took */
	struct sc_store *store;	    /* NULL with cache=none */
	char cache_path[4096];	    /* as opened, for messages */
	pthread_mutex_t drive_lock; /* protects drive */
	struct sc_nvme_info drive;  /* the NVMe drive under the cache */

	/* The cache; pool and scanner are NULL with cache=none. */
	struct sc_pool *pool;
	struct sc_tiers tiers; /* the pool and the store, as readers see them */
	struct sc_objects objects; /* naming and judging what is cached */
	struct sc_scanner *scanner;
	struct sc_readahead *readahead; /* NULL with cache=none */
	struct sc_meta *meta;		/* NULL with cache=none */
	struct sc_policy *policy;	/* NULL with cache=none */
	struct sc_prefetch *prefetch;	/* NULL with cache=none */
	struct sc_walkahead *walkahead; /* NULL with cache=none */
	struct sc_tunables tunables;
	struct sc_dirprime dirprime; /* opens in a run list their directory */
	bool ctime_is_real;	     /* BACKING keeps a real ctime (not FUSE) */
	/*
	 * BACKING keeps a file's inode number while it exists.  Not FUSE:
	 * sshfs numbers its nodes as the kernel asks for them and numbers
	 * them anew once the kernel has dropped them.
	 */
	bool ino_is_stable;
	uid_t owner_uid; /* who mounted: may set tunables */
	_Atomic uint64_t read_bytes_ram;
	_Atomic uint64_t read_bytes_ssd;
	_Atomic uint64_t read_bytes_backing;
	_Atomic uint64_t fetch_bytes;	  /* read from BACKING into the pool */
	_Atomic uint64_t changed_behind;  /* opens that found a file changed
					    behind the mount's back */
	_Atomic uint64_t opens_from_meta; /* opens that asked BACKING nothing */
};

#endif
