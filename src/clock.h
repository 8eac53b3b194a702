/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one clock of the project: CLOCK_MONOTONIC in nanoseconds (time is
 * uint64_t nanoseconds everywhere, STYLE.md rule 3), and the deadline
 * arithmetic of timed waits.
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

/*
 * The same clock as of the last tick (a few ms of slack): cheaper, for
 * the per-request paths that only compare against seconds.
 */
static inline uint64_t sc_monotonic_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * ns from since to now, 0 when since is later: a time another thread took
 * after this one took now.
 */
static inline uint64_t sc_elapsed_ns(uint64_t since, uint64_t now)
{
	return now > since ? now - since : 0;
}

/* ns from now on clock, as pthread_cond_timedwait() takes a deadline. */
static inline struct timespec sc_timespec_after(clockid_t clock, uint64_t ns)
{
	struct timespec ts;
	uint64_t nsec;

	clock_gettime(clock, &ts);
	nsec = (uint64_t)ts.tv_nsec + ns;
	ts.tv_sec += (time_t)(nsec / 1000000000ULL);
	ts.tv_nsec = (long)(nsec % 1000000000ULL);
	return ts;
}

#endif
