/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one clock of the project: CLOCK_MONOTONIC in nanoseconds (time is
 * uint64_t nanoseconds everywhere, STYLE.md rule 3).
 */
#ifndef SC_CLOCK_H
#define SC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t sc_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
