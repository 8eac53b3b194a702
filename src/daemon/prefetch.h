/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prefetch: setfattr -n user.swapcache.prefetch PATH reads a file, or
 * every file of a directory's subtree, into the cache in the background.
 * The pages go to the RAM pool like any read, and the scanner writes them
 * to the SSD under the burst governor; the prefetcher keeps at most a
 * window of them ahead of the SSD, so it goes as fast as the budget lets
 * and no faster (a spent budget stalls it).  Progress shows in
 * user.swapcache.residency.
 */
#ifndef SC_PREFETCH_H
#define SC_PREFETCH_H

struct sc_fs;

/* Jobs waiting at most; beyond, a prefetch is refused with EAGAIN. */
#define SC_PREFETCH_QUEUE 256u

/* Start the prefetch thread (fs has a store and a pool).  0 or -errno. */
int sc_prefetch_start(struct sc_fs *fs);

/* Stop it (what is queued is dropped).  Safe without a start. */
void sc_prefetch_stop(struct sc_fs *fs);

/* Queue path (below BACKING).  0, -EAGAIN (queue full) or -ENOMEM. */
int sc_prefetch_queue(struct sc_fs *fs, const char *path);

#endif
