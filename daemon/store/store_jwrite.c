/*
 * daemon/store/store_jwrite.c - the journal's writer thread (kv): the pipelined group
 * commit writes a batch's record here while the caller's thread runs the next batch.
 *
 * Why: a batch's record is one O_DSYNC pwrite, about 220 us on this machine's disk; on
 * the event loop nothing else ran meanwhile, so under a 64-in-flight put load a batch cost
 * its puts' CPU plus the sync, back to back (bench_wire --op put). With the write here, the
 * loop applies the next batch's puts to the checkpoint txn during the sync; their replies
 * wait for their own record (store.h, store_batch_commit_start).
 *
 * The thread touches no LMDB and no store state: it is handed records (a buffer and an
 * offset each, written to one file descriptor), fills in each one's checksum with the
 * journal's function (its seal: 2,000 of a put's 17,700 instructions, off the loop) and
 * reports an errno for each. Up to STORE_BATCH_IN_FLIGHT_MAX are handed over at a time
 * and written in order: a record queued behind the one being written starts as soon as
 * that one returned, without the two thread wake-ups (the loop's to hand it over, then
 * this thread's) between them.
 * After a failed write the records behind it are not written (the batches they hold were
 * built on top of the lost one): they finish with ECANCELED until store_jwrite_recover.
 */
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "store_kv.h"

int store_jwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off, char fault)
{
    if (fault == 's' || fault == 'F') { /* tests only (store_test_journal_faults) */
        struct timespec slow = { .tv_nsec = 200 * 1000 * 1000 };
        while (nanosleep(&slow, &slow) != 0 && errno == EINTR)
            ;
        fault = fault == 's' ? 'o' : 'f';
    }
    if (fault != '\0') {
        if (fault == 'l') { /* the bytes land, and the write still reports an error */
            ssize_t n = pwrite(fd, p, len, (off_t)off);
            (void)n;
        }
        if (fault != 'o')
            return EIO;
    }
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 && errno != 0 ? errno : EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static void *jw_main(void *arg)
{
    store_jwriter *jw = arg;

    pthread_mutex_lock(&jw->mu);
    for (;;) {
        uint64_t n = atomic_load(&jw->finished);
        while (n == jw->submitted && !jw->stop)
            pthread_cond_wait(&jw->cv, &jw->mu);
        if (n == jw->submitted)
            break; /* stop, with nothing handed over */
        store_jrec *r = &jw->rec[n % STORE_BATCH_IN_FLIGHT_MAX];
        bool skip = jw->failed;
        pthread_mutex_unlock(&jw->mu);
        if (!skip && r->seal != NULL)
            r->seal(r->buf, r->len);
        int err = skip ? ECANCELED : store_jwrite_all(jw->fd, r->buf, r->len, r->off, r->fault);
        pthread_mutex_lock(&jw->mu);
        r->err = err;
        if (err != 0)
            jw->failed = true;
        atomic_store(&jw->finished, n + 1);
        pthread_cond_broadcast(&jw->cv);
        if (jw->notify != NULL) /* uv_async_send in the daemon: safe under mu */
            jw->notify(jw->notify_arg);
    }
    pthread_mutex_unlock(&jw->mu);
    return NULL;
}

/* The thread takes no signal: the daemon's handlers run on its loop thread. */
int store_jwrite_start(store_jwriter *jw)
{
    sigset_t all, old;
    int e;

    if (jw->up)
        return 0;
    if ((e = pthread_mutex_init(&jw->mu, NULL)) != 0)
        return e;
    if ((e = pthread_cond_init(&jw->cv, NULL)) != 0) {
        pthread_mutex_destroy(&jw->mu);
        return e;
    }
    jw->stop = jw->failed = false;
    jw->submitted = 0;
    atomic_store(&jw->finished, 0);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&jw->thread, NULL, jw_main, jw);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        pthread_cond_destroy(&jw->cv);
        pthread_mutex_destroy(&jw->mu);
        return e;
    }
    jw->up = true;
    return 0;
}

void store_jwrite_submit(store_jwriter *jw)
{
    pthread_mutex_lock(&jw->mu);
    jw->rec[jw->submitted % STORE_BATCH_IN_FLIGHT_MAX].err = 0;
    jw->submitted++;
    pthread_cond_broadcast(&jw->cv);
    pthread_mutex_unlock(&jw->mu);
}

bool store_jwrite_failing(store_jwriter *jw)
{
    if (!jw->up)
        return false;
    pthread_mutex_lock(&jw->mu);
    bool failed = jw->failed;
    pthread_mutex_unlock(&jw->mu);
    return failed;
}

void store_jwrite_wait(store_jwriter *jw, uint64_t n)
{
    if (!jw->up || atomic_load(&jw->finished) >= n)
        return;
    pthread_mutex_lock(&jw->mu);
    while (atomic_load(&jw->finished) < n)
        pthread_cond_wait(&jw->cv, &jw->mu);
    pthread_mutex_unlock(&jw->mu);
}

void store_jwrite_recover(store_jwriter *jw)
{
    if (!jw->up)
        return;
    pthread_mutex_lock(&jw->mu);
    jw->failed = false;
    pthread_mutex_unlock(&jw->mu);
}

void store_jwrite_stop(store_jwriter *jw)
{
    if (!jw->up)
        return;
    pthread_mutex_lock(&jw->mu);
    jw->stop = true;
    pthread_cond_broadcast(&jw->cv);
    pthread_mutex_unlock(&jw->mu);
    pthread_join(jw->thread, NULL);
    pthread_cond_destroy(&jw->cv);
    pthread_mutex_destroy(&jw->mu);
    jw->up = false;
    jw->submitted = 0; /* every record was settled before the stop: none is owed */
    atomic_store(&jw->finished, 0);
}
