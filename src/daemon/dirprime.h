/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Listing a directory ahead of a run of opens in it.
 *
 * Every open revalidates its file against BACKING (close-to-open).  On a
 * network filesystem whose own attribute cache has expired (sshfs keeps
 * attributes 20 s), that is a round trip to the server per file: a
 * program reading a tree of small files after a while waits a round trip
 * for each.  One listing of the directory fetches every entry's
 * attributes at once (SFTP READDIR, NFS READDIRPLUS and SMB's
 * directory queries carry them) and the filesystem keeps them: the
 * checks that follow are answered locally, and still by BACKING.
 *
 * When two files of one directory are opened within SC_DIRPRIME_RUN_NS,
 * the directory is listed, at most once per SC_DIRPRIME_EVERY_NS; one
 * found larger than SC_DIRPRIME_MAX_ENTRIES is not listed again (its listing would cost more
 * than the round trips it saves).
 */
#ifndef SC_DIRPRIME_H
#define SC_DIRPRIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <pthread.h>

#define SC_DIRPRIME_SLOTS 64u
#define SC_DIRPRIME_RUN_NS 1000000000ull   /* two opens this close: a run */
#define SC_DIRPRIME_EVERY_NS 5000000000ull /* list one at most this often */
#define SC_DIRPRIME_MAX_ENTRIES 4096u	   /* larger: not listed again */

struct sc_dirprime_slot {
	uint32_t key; /* the directory's sc_loc dir_key; 0: empty */
	bool too_big;
	uint64_t last_open_ns, listed_ns;
};

struct sc_dirprime {
	pthread_mutex_t lock; /* protects slots */
	struct sc_dirprime_slot slots[SC_DIRPRIME_SLOTS];
	_Atomic uint64_t listings; /* for the stats */
};

void sc_dirprime_init(struct sc_dirprime *dp);
void sc_dirprime_destroy(struct sc_dirprime *dp);

/*
 * A file of the directory with key dir_key (dir_fd: an fd of it, O_PATH
 * will do) is about to be opened and checked, as the caller, at now_ns
 * (monotonic): list the directory first if this open continues a run.
 * Returns whether it did.  Errors are ignored (the check goes on as it
 * would have).
 */
bool sc_dirprime_before_open(struct sc_dirprime *dp, uint32_t dir_key,
			     int dir_fd, uint64_t now_ns);

#endif
