// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The wear budget (see wear.h).
 */
#include "wear.h"

#define SECONDS_PER_DAY 86400.0

uint64_t sc_wear_accrate(uint64_t endurance, uint64_t written,
			 uint64_t lifetime_s, uint64_t min_rate)
{
	uint64_t left = endurance > written ? endurance - written : 0;
	uint64_t rate = lifetime_s ? left / lifetime_s : 0;

	return rate > min_rate ? rate : min_rate;
}

double sc_wear_days_left(uint64_t endurance, uint64_t written, double rate,
			 unsigned percent_used, uint64_t power_on_hours)
{
	if (endurance) {
		if (written >= endurance)
			return 0;
		if (rate <= 0)
			return -1;
		return (double)(endurance - written) / rate / SECONDS_PER_DAY;
	}
	if (percent_used == 0 || power_on_hours == 0)
		return -1;
	if (percent_used >= 100)
		return 0;
	return (double)power_on_hours * (100 - percent_used) / percent_used /
	       24.0;
}
