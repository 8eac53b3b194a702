/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The wear budget: the SSD write rate a drive can afford, from its rated
 * endurance and the lifetime asked of it, and the lifetime it has left at
 * the rate it is written.  Pure arithmetic, for the tests to check; the
 * daemon feeds it the drive's health log (or its own write count) and
 * the tunables endurance and lifetime.
 */
#ifndef SC_WEAR_H
#define SC_WEAR_H

#include <stdint.h>

/*
 * The accrate (bytes per second) that spends what is left of endurance
 * (bytes the drive is rated to write, of which written are gone) over
 * lifetime_s seconds: at least min_rate, so a worn drive still caches
 * a trickle.
 */
uint64_t sc_wear_accrate(uint64_t endurance, uint64_t written,
			 uint64_t lifetime_s, uint64_t min_rate);

/*
 * Days the drive has left: with a rated endurance, what is left of it at
 * rate bytes per second; without one, by the drive's own percentage used
 * over its power-on hours.  -1 when neither tells.
 */
double sc_wear_days_left(uint64_t endurance, uint64_t written, double rate,
			 unsigned percent_used, uint64_t power_on_hours);

#endif
