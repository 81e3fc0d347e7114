/* One long-lived thread that runs every OpenMP region of a stage.
 *
 * libgomp keeps a pool of worker threads per thread that opens a parallel
 * region, and counts the threads of all pools: once they outnumber the
 * cores, every pool's workers stop spinning between regions and sleep on
 * a futex almost at once.  A server that loads on its main thread and
 * computes on one thread per connection holds two pools or more, so its
 * workers sleep and wake several times per layer (measured: 12k context
 * switches a second, Q4_0 decode at 0.6 of the same engine in process).
 * Run from here, the load and every forward share one pool, as in process;
 * callers pay one hand-off per forward. */
#include "engine/internal.h"

#include <pthread.h>
#include <stdlib.h>

struct eng_runner {
	pthread_t thread;
	pthread_mutex_t call;            /* one caller at a time */
	pthread_mutex_t mu;              /* job, quit */
	pthread_cond_t wake, done;
	void (*job)(void *);
	void *arg;
	bool quit;
};

static void *runner_main(void *p)
{
	struct eng_runner *r = p;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->job && !r->quit)
			pthread_cond_wait(&r->wake, &r->mu);
		if (!r->job)
			break;
		void (*job)(void *) = r->job;
		void *arg = r->arg;
		pthread_mutex_unlock(&r->mu);
		job(arg);
		pthread_mutex_lock(&r->mu);
		r->job = NULL;
		pthread_cond_signal(&r->done);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

struct eng_runner *eng_runner_new(void)
{
	struct eng_runner *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	pthread_mutex_init(&r->call, NULL);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->wake, NULL);
	pthread_cond_init(&r->done, NULL);
	if (pthread_create(&r->thread, NULL, runner_main, r) != 0) {
		pthread_mutex_destroy(&r->call), pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->wake), pthread_cond_destroy(&r->done);
		free(r);
		return NULL;
	}
	return r;
}

void eng_runner_call(struct eng_runner *r, void (*job)(void *), void *arg)
{
	if (pthread_equal(pthread_self(), r->thread)) {  /* a job that calls back in */
		job(arg);
		return;
	}
	pthread_mutex_lock(&r->call);
	pthread_mutex_lock(&r->mu);
	r->job = job, r->arg = arg;
	pthread_cond_signal(&r->wake);
	while (r->job)
		pthread_cond_wait(&r->done, &r->mu);
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_unlock(&r->call);
}

void eng_runner_free(struct eng_runner *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->quit = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->call), pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->wake), pthread_cond_destroy(&r->done);
	free(r);
}
