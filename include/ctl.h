/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control and statistics interface: extended attributes on the root
 * of a swapcachefs mount.
 *
 *   getfattr -n user.swapcache.stats MNT          "name: value" lines
 *   getfattr -n user.swapcache.accrate MNT        one tunable
 *   setfattr -n user.swapcache.accrate -v 2M MNT  set it (root or the
 *                                                 mounting user)
 *   getfattr -n user.swapcache.residency FILE     how much of a file is
 *                                                 cached: ssd_bytes,
 *                                                 ram_bytes, size lines
 *   setfattr -n user.swapcache.evict PATH         drop a file, or a
 *                                                 directory's subtree,
 *                                                 from the cache
 *   setfattr -n user.swapcache.prefetch PATH      read it into the cache
 *                                                 in the background
 *   setfattr -n user.swapcache.cache -v cache|noscache|none PATH
 *                                                 the flag use_chflags
 *                                                 reads (policy.h)
 *
 * Every tunable of swapcachefs(8) has its name under the prefix.  Names
 * under the prefix belong to the overlay and never reach the backing
 * store; all other names pass through.  Sizes in the stats are plain
 * integers, in bytes.
 */
#ifndef SC_CTL_H
#define SC_CTL_H

#define SC_CTL_PREFIX "user.swapcache."
#define SC_CTL_STATS SC_CTL_PREFIX "stats"
#define SC_CTL_RESIDENCY SC_CTL_PREFIX "residency"
#define SC_CTL_EVICT SC_CTL_PREFIX "evict"
#define SC_CTL_CACHE SC_CTL_PREFIX "cache"
#define SC_CTL_PREFETCH SC_CTL_PREFIX "prefetch"

#endif
