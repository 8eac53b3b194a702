/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Paths below BACKING, as the daemon names files and directories: no
 * leading slash, components joined by '/', and "." for BACKING's root.
 */
#ifndef SC_RELPATH_H
#define SC_RELPATH_H

#include <stdbool.h>
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

#endif
