// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of the io_uring engine: batches that merge adjacent requests
 * into one, results spread back over them, a short read at the end of a
 * file, the sliding window with its completion callbacks, and a wait that
 * polls.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ioring.h"

static void test_adjacent_requests_merge_and_each_gets_its_result(void **state)
{
	char path[] = "/tmp/scfs-ioring-XXXXXX";
	unsigned char w[5][4096], r[5][4096];
	struct sc_io io[5];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	for (int i = 0; i < 5; i++)
		memset(w[i], 'a' + i, sizeof(w[i]));
	/* 0,1,2 touch; 3 leaves a gap; 4 touches 3. */
	static const uint64_t off[5] = { 0, 4096, 8192, 20480, 24576 };
	for (int i = 0; i < 5; i++)
		io[i] = (struct sc_io){
			.buf = w[i], .len = 4096, .off = off[i], .write = true
		};
	assert_int_equal(sc_io_batch(fd, io, 5, 0), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(io[i].res, 4096);
	for (int i = 0; i < 5; i++) {
		unsigned char got[4096];

		assert_int_equal(pread(fd, got, 4096, (off_t)off[i]), 4096);
		assert_memory_equal(got, w[i], 4096);
	}
	/* Read back, the last request running past the end of the file. */
	assert_int_equal(ftruncate(fd, 24576 + 1000), 0);
	for (int i = 0; i < 5; i++)
		io[i] = (struct sc_io){ .buf = r[i],
					.len = 4096,
					.off = off[i] };
	assert_int_equal(sc_io_batch(fd, io, 5, 0), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(io[i].res, 4096);
		assert_memory_equal(r[i], w[i], 4096);
	}
	assert_int_equal(io[4].res, 1000);
	assert_int_equal(sc_io_datasync(fd), 0);
	close(fd);
	unlink(path);
}

static void test_batch_larger_than_the_ring(void **state)
{
	char path[] = "/tmp/scfs-ioring-XXXXXX";
	size_t n = 3 * SC_IORING_DEPTH + 7;
	struct sc_io *io = calloc(n, sizeof(*io));
	uint32_t *words = calloc(n, sizeof(*words));
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	/* Every other word: nothing merges, so it takes several rounds. */
	for (size_t i = 0; i < n; i++) {
		words[i] = (uint32_t)i * 2654435761u;
		io[i] = (struct sc_io){
			.buf = &words[i], .len = 4, .off = i * 8, .write = true
		};
	}
	assert_int_equal(sc_io_batch(fd, io, n, 0), 0);
	for (size_t i = 0; i < n; i++) {
		uint32_t got;

		assert_int_equal(io[i].res, 4);
		assert_int_equal(pread(fd, &got, 4, (off_t)(i * 8)), 4);
		assert_int_equal(got, words[i]);
	}
	free(io);
	free(words);
	close(fd);
	unlink(path);
}

/* Completion callbacks for the window test: which ran, and in what order. */
static unsigned done_count;
static unsigned done_order[64];

static void note_done(struct sc_io *io)
{
	done_order[done_count++] = (unsigned)(uintptr_t)io->ctx;
}

static void test_window_keeps_depth_and_calls_back_each_request(void **state)
{
	char path[] = "/tmp/scfs-ioring-XXXXXX";
	uint32_t words[40], got[40];
	struct sc_io io[40];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	for (unsigned i = 0; i < 40; i++)
		words[i] = i * 2654435761u;
	assert_int_equal(pwrite(fd, words, sizeof(words), 0),
			 (ssize_t)sizeof(words));
	/* Reads of every other word, backwards: nothing merges. */
	for (unsigned i = 0; i < 20; i++)
		io[i] = (struct sc_io){ .buf = &got[i],
					.len = 4,
					.off = (uint64_t)(38 - 2 * i) * 4,
					.done = note_done,
					.ctx = (void *)(uintptr_t)i };
	done_count = 0;
	assert_int_equal(sc_io_submit(fd, io, 20, 3), 0);
	/* At most 3 in flight: the first 17 had to finish to let the rest in. */
	assert_true(done_count >= 17);
	assert_int_equal(sc_io_drain(), 0);
	assert_int_equal(done_count, 20);
	for (unsigned i = 0; i < 20; i++) {
		bool seen = false;

		assert_int_equal(io[i].res, 4);
		assert_int_equal(got[i], words[38 - 2 * i]);
		for (unsigned k = 0; k < 20; k++)
			seen |= done_order[k] == i;
		assert_true(seen); /* each request called back exactly once */
	}
	/* datasync waits for what the thread queued before it. */
	done_count = 0;
	assert_int_equal(sc_io_submit(fd, io, 5, 0), 0);
	assert_int_equal(sc_io_datasync(fd), 0); /* waits for them first */
	assert_int_equal(done_count, 5);
	close(fd);
	unlink(path);
}

static void *write_later(void *arg)
{
	int fd = *(int *)arg;

	usleep(50 * 1000);
	assert_int_equal(write(fd, "polled", 6), 6);
	return NULL;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * A polling wait takes the completion as soon as it is there, without
 * sleeping (the point of polling), and not at the end of its window (a
 * poller that missed the kernel's sign of deferred work would spin the
 * whole window, then find it); a window too short falls back to a sleep.
 * The read is of a pipe that a thread fills 50 ms later.
 */
static void test_a_polling_wait_ends_at_the_completion(void **state)
{
	const uint64_t window = 20ull * 1000 * 1000 * 1000;
	char path[] = "/tmp/scfs-ioring-XXXXXX";
	unsigned char page[4096];
	struct sc_io io = { .buf = page, .len = sizeof(page) };
	struct rusage before, after;
	struct timespec t0;
	int p[2], fd = mkstemp(path);
	pthread_t writer;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(pipe(p), 0);
	/* The thread's ring first: making it is not what is measured. */
	assert_int_equal(sc_io_batch(fd, &io, 1, 0), 0);
	for (int round = 0; round < 2; round++) {
		memset(page, 0, sizeof(page));
		io = (struct sc_io){ .buf = page, .len = sizeof(page) };
		assert_int_equal(
			pthread_create(&writer, NULL, write_later, &p[1]), 0);
		getrusage(RUSAGE_THREAD, &before);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(sc_io_batch_poll(p[0], &io, 1, 0,
						  round ? 1 : window),
				 0);
		getrusage(RUSAGE_THREAD, &after);
		assert_int_equal(io.res, 6);
		assert_memory_equal(page, "polled", 6);
		if (round == 0) {
			assert_true(seconds_since(&t0) < 10.0);
			assert_int_equal(after.ru_nvcsw, before.ru_nvcsw);
		} else {
			assert_true(after.ru_nvcsw > before.ru_nvcsw);
		}
		assert_int_equal(pthread_join(writer, NULL), 0);
	}
	close(p[0]);
	close(p[1]);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_adjacent_requests_merge_and_each_gets_its_result),
		cmocka_unit_test(test_batch_larger_than_the_ring),
		cmocka_unit_test(test_a_polling_wait_ends_at_the_completion),
		cmocka_unit_test(
			test_window_keeps_depth_and_calls_back_each_request),
	};

	return cmocka_run_group_tests_name("ioring", tests, NULL, NULL);
}
