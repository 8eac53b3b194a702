/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What does a device hold?  Asked of a cache device or file that has no
 * swapcachefs superblock, to decide whether it may be formatted unasked
 * (it holds nothing at all) and, if not, to tell the user what is there.
 * Signatures are libblkid's, what mkfs and wipefs go by: it knows where
 * each format keeps its own (a device's end too: mdraid 1.0, ZFS labels).
 */
#ifndef SC_PROBE_H
#define SC_PROBE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * NULL when buf (len bytes from offset 0 of the device) is all zero,
 * else "unrecognised data": what a device holds that no signature names.
 */
const char *sc_probe_contents(const void *buf, size_t len);

/*
 * The filesystem, RAID member, encrypted volume or partition table that
 * libblkid finds anywhere on path, as "TYPE" ("ext4", "linux_raid_member",
 * "zfs_member", "gpt"...), into what (len bytes).  Returns 1 when one was
 * found, 0 when none, or a negative errno when path cannot be probed.
 */
int sc_probe_signature(const char *path, char *what, size_t len);

/*
 * Whether the regular file path holds a non-zero byte at or past offset
 * from: its holes are skipped (SEEK_DATA), its data extents read.  1, 0,
 * or a negative errno.
 */
int sc_probe_file_has_data(const char *path, long long from);

#endif
