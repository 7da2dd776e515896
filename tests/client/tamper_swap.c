/*
 * tamper_swap HUB_DIR: swaps the stored values of the first two records of a hub (the
 * daemon must be stopped), as an attacker with write access to the file could. Each
 * ciphertext is bound to its slot, so both records must then fail with `integrity`.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k[2], v[2];
    int rc;
    if (argc != 2)
        return 2;
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 16)) ||
        (rc = mdb_env_open(env, argv[1], 0, 0600)) || (rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
        (rc = mdb_dbi_open(txn, "rec", 0, &dbi)) || (rc = mdb_cursor_open(txn, dbi, &c)) ||
        (rc = mdb_cursor_get(c, &k[0], &v[0], MDB_FIRST)) ||
        (rc = mdb_cursor_get(c, &k[1], &v[1], MDB_NEXT))) {
        fprintf(stderr, "tamper_swap: %s\n", mdb_strerror(rc));
        return 1;
    }
    /* copies: the values point into the map, which the puts below rewrite */
    MDB_val copy[2], key[2];
    for (int i = 0; i < 2; i++) {
        key[i].mv_size = k[i].mv_size;
        key[i].mv_data = malloc(k[i].mv_size);
        memcpy(key[i].mv_data, k[i].mv_data, k[i].mv_size);
        copy[i].mv_size = v[i].mv_size;
        copy[i].mv_data = malloc(v[i].mv_size);
        memcpy(copy[i].mv_data, v[i].mv_data, v[i].mv_size);
    }
    mdb_cursor_close(c);
    if ((rc = mdb_put(txn, dbi, &key[0], &copy[1], 0)) || (rc = mdb_put(txn, dbi, &key[1], &copy[0], 0)) ||
        (rc = mdb_txn_commit(txn))) {
        fprintf(stderr, "tamper_swap: %s\n", mdb_strerror(rc));
        return 1;
    }
    mdb_env_close(env);
    for (int i = 0; i < 2; i++) {
        free(key[i].mv_data);
        free(copy[i].mv_data);
    }
    return 0;
}
