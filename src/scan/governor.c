// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The governor (see governor.h).  The comments say where each rule comes
 * from in DragonFly's vm_swapcache.c and why it is there.
 */
#include "clock.h"
#include "governor.h"

#define NS_PER_S 1000000000ULL
#define TICK_NS (NS_PER_S / 10) /* 10 Hz when enabled */
#define IDLE_NS (5 * NS_PER_S)	/* 5 s when disabled */
/* A burst that ended short of the trigger is written after this quiet. */
#define QUIET_NS NS_PER_S

void sc_governor_init(struct sc_governor *g, int64_t curburst_bytes,
		      uint64_t now_ns)
{
	*g = (struct sc_governor){
		.curburst_bytes = curburst_bytes,
		.state = SC_SCAN_WRITING,
		.burst = SC_BURST_BURSTING,
		.last_tick_ns = now_ns,
	};
}

/* size * pct / 100 without overflow (DragonFly's SWAPMAX). */
static uint64_t pct_of(uint64_t size, unsigned pct)
{
	return size / 100 * pct + size % 100 * pct / 100;
}

/*
 * Refill by accrate for the time since the last tick.  The reference adds
 * accrate / 10 per 10 Hz tick; taking the clock keeps the rate exact when
 * ticks come late.  curburst may have been set above maxburst by the user
 * for an initial load: it is then left alone, not cut down.
 */
static void refill(struct sc_governor *g, const struct sc_governor_config *c,
		   uint64_t now_ns)
{
	uint64_t elapsed = sc_elapsed_ns(g->last_tick_ns, now_ns);
	uint64_t rate = c->accrate_bytes > 0 ? (uint64_t)c->accrate_bytes : 0;
	uint64_t add;

	g->last_tick_ns = now_ns;
	if (g->curburst_bytes >= c->maxburst_bytes)
		return;
	/* rate * elapsed / 1e9 without overflow, the remainder carried. */
	add = rate / NS_PER_S * elapsed +
	      (rate % NS_PER_S * elapsed + g->refill_carry) / NS_PER_S;
	g->refill_carry =
		(rate % NS_PER_S * elapsed + g->refill_carry) % NS_PER_S;
	if (add > (uint64_t)(c->maxburst_bytes - g->curburst_bytes))
		g->curburst_bytes = c->maxburst_bytes;
	else
		g->curburst_bytes += (int64_t)add;
}

/*
 * Wait for enough pages to build up in the inactive queues for a good
 * burst: a quarter of the inactive pages, at least min_hysteresis.  The
 * trigger is bumped by the pages added and reset when a pass reaches the
 * end of the queues.
 *
 * Beyond the reference: pages added since the last pass reached the end,
 * too few to pull the trigger, are written once no page has been added
 * for QUIET_NS.  The tail of a burst of reads is then cached when the
 * burst ends, not whenever the next one comes; a pass still never runs
 * for a trickle while pages keep arriving.
 */
static bool writing_heuristic(struct sc_governor *g,
			      const struct sc_governor_config *c,
			      uint64_t now_ns, uint64_t inactive_pages,
			      uint64_t *pending_adds)
{
	uint64_t hyst = inactive_pages / 4;

	if (hyst < c->min_hysteresis_pages)
		hyst = c->min_hysteresis_pages;
	g->hysteresis_pages = hyst;
	if (*pending_adds) {
		g->added_since_end += *pending_adds;
		g->last_add_ns = now_ns;
	}
	g->wtrigger += (int64_t)*pending_adds;
	*pending_adds = 0;
	if (g->wtrigger < -(int64_t)hyst)
		g->wtrigger = -(int64_t)hyst;
	return g->wtrigger >= 0 ||
	       (g->added_since_end && now_ns - g->last_add_ns >= QUIET_NS);
}

enum sc_tick_action
sc_governor_tick(struct sc_governor *g, const struct sc_governor_config *c,
		 uint64_t now_ns, uint64_t used_bytes, uint64_t size_bytes,
		 uint64_t inactive_pages, uint64_t *pending_adds)
{
	/*
	 * Write up to maxswappct of the SSD, then clean down to 10 points
	 * below, then write again: the hysteresis keeps the two passes from
	 * alternating every tick.
	 */
	unsigned low_pct = c->maxswappct >= 10 ? c->maxswappct - 10 : 0;

	if (g->state == SC_SCAN_WRITING) {
		if (used_bytes > pct_of(size_bytes, c->maxswappct))
			g->state = SC_SCAN_CLEANING;
	} else if (used_bytes < pct_of(size_bytes, low_pct) ||
		   used_bytes == 0) {
		g->state = SC_SCAN_WRITING;
	}
	/* The budget accumulates in either state. */
	refill(g, c, now_ns);
	if (g->state != SC_SCAN_WRITING)
		return SC_TICK_CLEAN;
	/* No nickel-and-diming: a pass needs a second's worth of budget. */
	if (g->curburst_bytes < c->accrate_bytes)
		return SC_TICK_IDLE;
	if (g->burst == SC_BURST_BURSTING)
		return writing_heuristic(g, c, now_ns, inactive_pages,
					 pending_adds)
			       ? SC_TICK_WRITE
			       : SC_TICK_IDLE;
	/* Recovering: burst again only once above minburst. */
	if (g->curburst_bytes <= c->minburst_bytes)
		return SC_TICK_IDLE;
	g->burst = SC_BURST_BURSTING;
	return writing_heuristic(g, c, now_ns, inactive_pages, pending_adds)
		       ? SC_TICK_WRITE
		       : SC_TICK_IDLE;
}

bool sc_governor_may_write(const struct sc_governor *g)
{
	return g->curburst_bytes >= 0;
}

void sc_governor_charge(struct sc_governor *g, uint64_t bytes)
{
	g->curburst_bytes -= (int64_t)bytes;
}

void sc_governor_refund(struct sc_governor *g, uint64_t bytes)
{
	g->curburst_bytes += (int64_t)bytes;
}

void sc_governor_pass_done(struct sc_governor *g, bool reached_end)
{
	if (g->burst == SC_BURST_BURSTING && g->curburst_bytes <= 0)
		g->burst = SC_BURST_RECOVERING;
	if (reached_end) {
		g->wtrigger = -(int64_t)g->hysteresis_pages;
		g->added_since_end = 0;
	}
}

uint64_t sc_governor_interval_ns(bool data_enable, bool meta_enable,
				 uint64_t used_bytes, uint64_t size_bytes,
				 unsigned maxswappct)
{
	/* Disabled and nothing to clean: check every 5 seconds. */
	if ((!data_enable && !meta_enable &&
	     used_bytes <= pct_of(size_bytes, maxswappct)) ||
	    size_bytes == 0)
		return IDLE_NS;
	return TICK_NS;
}
