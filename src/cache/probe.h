/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What does a device hold?  Called on the first MiB of a cache device
 * that has no swapcachefs superblock, to decide whether it may be
 * formatted unasked (all zero) and, if not, to tell the user what was
 * found there.  Pure; the unit tests feed it canned signatures.
 */
#ifndef SC_PROBE_H
#define SC_PROBE_H

#include <stddef.h>

/*
 * NULL when buf (len bytes from offset 0 of the device) is all zero;
 * otherwise a description such as "an ext2/3/4 filesystem", "swap space"
 * or "unrecognised data".
 */
const char *sc_probe_contents(const void *buf, size_t len);

#endif
