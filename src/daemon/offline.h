/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Offline mode.  A network backing store whose server went away answers
 * at once with an error (sshfs -o reconnect: EIO; without: ENOTCONN).
 * When a backing call fails so and a statfs of BACKING fails too,
 * BACKING is offline: the mount says so once in the log, serves what the
 * cache holds (metadata of any age, file data on the SSD and in RAM),
 * fails what needs BACKING with SC_OFFLINE_ERRNO at once, and refuses
 * changes with EROFS.  A probe thread asks BACKING for its statfs once a
 * second, and the first answer brings the mount back online (logged too).
 */
#ifndef SC_OFFLINE_H
#define SC_OFFLINE_H

#include <stdbool.h>
#include <stdint.h>

/* What a call that needs BACKING gets while it is offline: "Host is down". */
#define SC_OFFLINE_ERRNO EHOSTDOWN

/* How often an offline BACKING is asked whether it is back. */
#define SC_OFFLINE_PROBE_NS 1000000000ULL

struct sc_fs;

/* Whether err, from a backing call, is what an unreachable server gives. */
bool sc_offline_is_network_error(int err);

/*
 * A backing call failed with err (positive or negative): if it is a
 * network error and BACKING does not answer a statfs either, go offline.
 * Returns whether BACKING is offline now.
 */
bool sc_offline_check(struct sc_fs *fs, int err);

/* Whether BACKING is offline (a load and a compare). */
bool sc_offline_now(void);

/* Times BACKING went offline since the mount, for the stats. */
uint64_t sc_offline_count(void);

#endif
