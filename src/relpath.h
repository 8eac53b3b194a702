/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Paths below BACKING, as the daemon names files and directories: no
 * leading slash, components joined by '/', and "." for BACKING's root;
 * and canonical absolute paths, whose root is "/".
 */
#ifndef SC_RELPATH_H
#define SC_RELPATH_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether path is top or lies below it; root is above all. */
static inline bool sc_path_under(const char *path, const char *top,
				 const char *root)
{
	size_t n = strlen(top);

	if (strcmp(top, root) == 0)
		return true;
	return strncmp(path, top, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

/* Whether path (below BACKING) is top or lies below it. */
static inline bool sc_path_is_below(const char *path, const char *top)
{
	return sc_path_under(path, top, ".");
}

/* Whether canonical absolute path inner is outer or lies below it. */
static inline bool sc_path_is_within(const char *inner, const char *outer)
{
	return sc_path_under(inner, outer, "/");
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
