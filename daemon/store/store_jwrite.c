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
 * The thread touches no LMDB and no store state: it is handed a file descriptor, a buffer
 * and an offset, and reports an errno. One write is in flight at a time.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "store_kv.h"

int store_jwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off, char fault)
{
    if (fault != '\0') { /* tests only (store_test_journal_faults) */
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
        while (!jw->job && !jw->stop)
            pthread_cond_wait(&jw->cv, &jw->mu);
        if (!jw->job)
            break; /* stop, with nothing handed over */
        jw->job = false;
        pthread_mutex_unlock(&jw->mu);
        int err = store_jwrite_all(jw->fd, jw->buf, jw->len, jw->off, jw->fault);
        pthread_mutex_lock(&jw->mu);
        jw->err = err;
        jw->done = true;
        atomic_store(&jw->written, true);
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
    jw->job = jw->stop = jw->done = false;
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
    jw->done = false;
    atomic_store(&jw->written, false);
    jw->err = 0;
    jw->job = true;
    pthread_cond_broadcast(&jw->cv);
    pthread_mutex_unlock(&jw->mu);
}

void store_jwrite_wait(store_jwriter *jw)
{
    pthread_mutex_lock(&jw->mu);
    while (!jw->done)
        pthread_cond_wait(&jw->cv, &jw->mu);
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
}
