/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The checks made before anything is mounted: BACKING exists and is a
 * directory, MOUNTPOINT is a directory not already mounted on, and neither
 * lies inside the other (a mount inside its own backing tree would make
 * the overlay recurse into itself).
 */
#ifndef SC_MOUNTCHECK_H
#define SC_MOUNTCHECK_H

#include <stddef.h>

/*
 * Resolve and check both paths.  On success the canonical paths are in
 * ret_backing and ret_mountpoint (PATH_MAX bytes each) and 0 is returned;
 * otherwise a negative errno and a one-line message in err.
 */
int sc_mountcheck(const char *backing, const char *mountpoint,
		  char *ret_backing, char *ret_mountpoint, char *err,
		  size_t err_len);

/*
 * Whether path (canonical) is a mount point listed in mountinfo, which is
 * the text of /proc/self/mountinfo.  Pure, for the unit tests.
 */
int sc_mountinfo_has_mountpoint(const char *mountinfo, const char *path);

#endif
