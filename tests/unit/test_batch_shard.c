/* test_batch_shard.c - the share of an image must be the same on every
 * machine and in every qvl version (shards of one batch may be run by
 * different builds): pinned FNV-1a values, the path taken relative to the
 * --images folder however it is spelled, I/N parsing, and keeping a share. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "batch/batch_shard.h"

static void test_parse(void) {
    qvl_error err = {0};
    int i = -1, n = -1;
    CHECK(batch_shard_parse("0/1", &i, &n, &err) == 0 && i == 0 && n == 1);
    CHECK(batch_shard_parse("3/4", &i, &n, &err) == 0 && i == 3 && n == 4);
    const char *bad[] = {"4/4", "-1/4", "1/0", "1/", "/4", "1of4", "1/4x", " 1/4", "1/-4", "1/100001", "", NULL};
    for (const char **b = bad; *b; b++) {
        memset(&err, 0, sizeof err);
        CHECK_MSG(batch_shard_parse(*b, &i, &n, &err) == -1, "'%s' accepted", *b);
        CHECK(strstr(err.msg, "0 <= I < N") != NULL);
    }
}

static void test_hash(void) {
    /* FNV-1a 64 of the relative path, mod N (values computed independently) */
    CHECK_EQ_INT(batch_shard_of("a.png", "", 1000), 417);
    CHECK_EQ_INT(batch_shard_of("/data/imgs/a.png", "/data/imgs", 1000), 417);
    CHECK_EQ_INT(batch_shard_of("/data/imgs/a.png", "/data/imgs/", 1000), 417);
    CHECK_EQ_INT(batch_shard_of("/mnt/x/sub/b.png", "/mnt/x", 7), 4);
    /* a folder that is only a prefix of a name is not taken off */
    CHECK_EQ_INT(batch_shard_of("/data/imgs2/a.png", "/data/imgs", 1000), batch_shard_of("/data/imgs2/a.png", "", 1000));
    CHECK_EQ_INT(batch_shard_of("anything", "", 1), 0);
}

static void test_keep(void) {
    path_list l = {0};
    const char *names[] = {"d/a.png", "d/b.png", "d/c.png", "d/e.png", "d/f.png", "d/g.png"};
    int per_shard[3] = {0};
    for (int s = 0; s < 3; s++) {
        l.n = 0;
        l.items = malloc(6 * sizeof *l.items);
        for (int k = 0; k < 6; k++) l.items[l.n++] = strdup(names[k]);
        batch_shard_keep(&l, "d", s, 3);
        per_shard[s] = l.n;
        for (int k = 0; k < l.n; k++) CHECK_EQ_INT(batch_shard_of(l.items[k], "d", 3), s);
        path_list_free(&l);
    }
    CHECK_EQ_INT(per_shard[0] + per_shard[1] + per_shard[2], 6);
}

int main(void) {
    test_parse();
    test_hash();
    test_keep();
    return check_summary();
}
