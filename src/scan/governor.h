/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The swapcached governor: the WRITING/CLEANING state machine, the burst
 * budget that keeps the SSD from being worn out, and the writing
 * heuristic that waits for enough new pages to make a pass worth it.  It
 * follows DragonFly's vm_swapcached_thread() loop; see the man page's
 * TUNING section for what each tunable trades.
 *
 * Pure: the clock and every measurement come in as arguments, so the unit
 * tests drive it through simulated hours.  Not thread-safe; the scanner
 * thread owns it.
 */
#ifndef SC_GOVERNOR_H
#define SC_GOVERNOR_H

#include <stdbool.h>
#include <stdint.h>

enum sc_scan_state {
	SC_SCAN_WRITING,  /* copy clean pages to the SSD */
	SC_SCAN_CLEANING, /* free SSD space down to the low watermark */
};

enum sc_burst_state {
	SC_BURST_BURSTING,   /* writing while the budget lasts */
	SC_BURST_RECOVERING, /* budget spent: wait until above minburst */
};

enum sc_tick_action {
	SC_TICK_IDLE,  /* nothing to do this tick */
	SC_TICK_WRITE, /* take a writing pass, charging the budget */
	SC_TICK_CLEAN, /* take a cleaning pass */
};

/* The tunables the governor reads, in bytes, bytes/s, percent, pages. */
struct sc_governor_config {
	int64_t accrate_bytes;	/* budget refilled per second */
	int64_t maxburst_bytes; /* refill stops here */
	int64_t minburst_bytes; /* once spent, wait until above this */
	unsigned maxswappct;	/* clean above this % of the SSD */
	uint64_t min_hysteresis_pages;
};

struct sc_governor {
	int64_t curburst_bytes; /* may be set above maxburst by the user */
	enum sc_scan_state state;
	enum sc_burst_state burst;
	int64_t wtrigger;	   /* >= 0: enough pages added for a pass */
	uint64_t hysteresis_pages; /* the last one computed */
	uint64_t added_since_end;  /* pages added since a pass reached it */
	uint64_t last_add_ns;	   /* when pages were last added */
	uint64_t last_tick_ns;
	uint64_t refill_carry; /* sub-byte remainder of the refill */
};

/* Start with curburst_bytes of budget (DragonFly: 4G "after boot"). */
void sc_governor_init(struct sc_governor *g, int64_t curburst_bytes,
		      uint64_t now_ns);

/*
 * One tick of the scanner loop at now_ns: refill the budget, move between
 * WRITING and CLEANING by the SSD's use, and decide.  *pending_adds holds
 * the pages added to the inactive queues since it was last consumed; the
 * heuristic consumes it (sets it to 0) when it looks.
 */
enum sc_tick_action
sc_governor_tick(struct sc_governor *g, const struct sc_governor_config *c,
		 uint64_t now_ns, uint64_t used_bytes, uint64_t size_bytes,
		 uint64_t inactive_pages, uint64_t *pending_adds);

/* Whether a writing pass may write one more cluster: budget not spent. */
bool sc_governor_may_write(const struct sc_governor *g);

/* The writing pass is writing bytes to the SSD. */
void sc_governor_charge(struct sc_governor *g, uint64_t bytes);

/* Bytes charged that did not reach the SSD after all. */
void sc_governor_refund(struct sc_governor *g, uint64_t bytes);

/* A writing pass ended; reached_end: every queue was scanned to its end. */
void sc_governor_pass_done(struct sc_governor *g, bool reached_end);

/* How long the scanner sleeps between ticks. */
uint64_t sc_governor_interval_ns(bool data_enable, bool meta_enable,
				 uint64_t used_bytes, uint64_t size_bytes,
				 unsigned maxswappct);

#endif
