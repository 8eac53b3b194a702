/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Listing a directory ahead of a run of opens in it, or of questions
 * about many of its names.
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
 * The same holds for the questions about a directory's names whose
 * cached answers expired (sc_dirprime_worth, sc_dirprime_list_now).
 *
 * When two files of one directory are opened within SC_DIRPRIME_RUN_NS,
 * the directory is listed, at most once per SC_DIRPRIME_EVERY_NS; one
 * found larger than SC_DIRPRIME_MAX_ENTRIES is not listed again (its
 * listing would cost more than the round trips it saves).
 */
#ifndef SC_DIRPRIME_H
#define SC_DIRPRIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
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
 * A file of the directory with key dir_key is about to be opened and
 * checked, at now_ns (monotonic): whether this open continues a run and
 * the directory should be listed (sc_dirprime_list).
 */
bool sc_dirprime_should_list(struct sc_dirprime *dp, uint32_t dir_key,
			     uint64_t now_ns);

/*
 * List the directory with key dir_key through dir_fd (O_PATH will do;
 * closed here), as the caller.  After the open's reply: that open does not
 * wait for it, and a listing is no longer a window between the kernel's
 * lookup of a name and the open's check of it.  Errors are ignored.
 */
void sc_dirprime_list(struct sc_dirprime *dp, uint32_t dir_key, int dir_fd);

/*
 * A listing costs SC_DIRPRIME_LIST_TRIPS round trips (SFTP's OPENDIR, the
 * READDIR that finds the end, CLOSE) and one more for each
 * SC_DIRPRIME_NAMES_PER_TRIP names (SFTP servers send 100 a READDIR); a
 * stat, one round trip.  Whether asking BACKING about stale names of a
 * directory of entries names costs less after a listing.
 */
#define SC_DIRPRIME_LIST_TRIPS 3u
#define SC_DIRPRIME_NAMES_PER_TRIP 100u

static inline bool sc_dirprime_worth(size_t stale, size_t entries)
{
	return stale >
	       SC_DIRPRIME_LIST_TRIPS + entries / SC_DIRPRIME_NAMES_PER_TRIP;
}

/*
 * List the directory at dir_fd (O_PATH will do; left open) now, as the
 * caller, before it asks BACKING about names in it (sc_dirprime_worth).
 */
void sc_dirprime_list_now(struct sc_dirprime *dp, int dir_fd);

#endif
