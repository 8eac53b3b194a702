/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Paths below BACKING, as the daemon names files and directories: no
 * leading slash, components joined by '/', and "." for BACKING's root.
 */
#ifndef SC_RELPATH_H
#define SC_RELPATH_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether path is top or lies below it (the root "." is above all). */
static inline bool sc_path_is_below(const char *path, const char *top)
{
	size_t n = strlen(top);

	if (strcmp(top, ".") == 0)
		return true;
	return strncmp(path, top, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

/*
 * The path of name inside the directory dir ("." for the root: then name
 * alone) into buf.  0, or -ENAMETOOLONG when it does not fit.
 */
static inline int sc_path_join(char *buf, size_t len, const char *dir,
			       const char *name)
{
	int n = strcmp(dir, ".") == 0 ? snprintf(buf, len, "%s", name)
				      : snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

#endif
