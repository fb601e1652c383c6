/* test_conversations.c - the simple API's conversation store
 * (service/conversations.h): what is put comes back as a deep copy, a put
 * replaces, unknown ids give NULL, the least recently used conversation is
 * dropped when the store is full (a get counts as a use), a conversation
 * expires ttl_s after its last use (a get refreshes it), the byte budget
 * drops the least recently used until a new one fits and refuses one larger
 * than the budget (the usage counts what is held), ids are 32 fresh hex
 * digits, and several threads may use one store at once.
 * Leaks of replaced or dropped messages show in the ASan run.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "test_time.h"
#include "service/conversations.h"

/* A conversation whose one user message is text. */
static json_t *conv(const char *text) {
    return json_pack("[{s:s, s:s}]", "role", "user", "content", text);
}

/* The text of the first message of a stored conversation, or NULL (and the
 * copy is freed). */
static const char *text_of(conv_store *cs, const char *id, char *buf, size_t cap) {
    json_t *m = conv_get(cs, id);
    if (!m) return NULL;
    snprintf(buf, cap, "%s", json_string_value(json_object_get(json_array_get(m, 0), "content")));
    json_decref(m);
    return buf;
}

static int has(conv_store *cs, const char *id) {
    json_t *m = conv_get(cs, id);
    json_decref(m);
    return m != NULL;
}

static void test_put_get_copy(void) {
    conv_store *cs = conv_store_new(4, 60, 0);
    CHECK(cs != NULL);
    char buf[64];
    CHECK(conv_get(cs, "nothere") == NULL);
    conv_put(cs, "a", conv("first"));
    const char *t = text_of(cs, "a", buf, sizeof buf);
    CHECK(t && !strcmp(t, "first"));
    CHECK(conv_get(cs, "b") == NULL);
    CHECK(conv_get(cs, "") == NULL);

    /* The caller's copy is its own: changing it does not change the store. */
    json_t *c1 = conv_get(cs, "a");
    CHECK(c1 != NULL);
    json_array_append_new(c1, json_pack("{s:s, s:s}", "role", "assistant", "content", "x"));
    json_object_set_new(json_array_get(c1, 0), "content", json_string("changed"));
    json_t *c2 = conv_get(cs, "a");
    CHECK(c2 && c2 != c1 && json_array_size(c2) == 1);
    CHECK(c2 && !strcmp(json_string_value(json_object_get(json_array_get(c2, 0), "content")), "first"));
    json_decref(c1);
    json_decref(c2);

    /* A put under an existing id replaces (and takes no second place). */
    conv_put(cs, "a", conv("second"));
    t = text_of(cs, "a", buf, sizeof buf);
    CHECK(t && !strcmp(t, "second"));
    conv_store_free(cs);
    conv_store_free(NULL);
}

/* Capacity 3: a, b, c stored; a used; d stored -> b (least recently used)
 * goes, a, c, d stay. Then c used, e stored -> a goes. */
static void test_lru(void) {
    conv_store *cs = conv_store_new(3, 60, 0);
    conv_put(cs, "a", conv("A"));
    sleep_ms(2);
    conv_put(cs, "b", conv("B"));
    sleep_ms(2);
    conv_put(cs, "c", conv("C"));
    sleep_ms(2);
    CHECK(has(cs, "a"));   /* a is now the most recently used */
    sleep_ms(2);
    conv_put(cs, "d", conv("D"));
    CHECK_MSG(!has(cs, "b"), "the least recently used conversation was kept");
    CHECK(has(cs, "a") && has(cs, "c") && has(cs, "d"));
    /* the gets above used a, then c, then d: a is the oldest now */
    sleep_ms(2);
    conv_put(cs, "e", conv("E"));
    CHECK(!has(cs, "a"));
    CHECK(has(cs, "c") && has(cs, "d") && has(cs, "e"));
    /* Replacing an existing id in a full store drops nobody. */
    conv_put(cs, "d", conv("D2"));
    CHECK(has(cs, "c") && has(cs, "d") && has(cs, "e"));
    conv_store_free(cs);

    /* Never more than max_entries: 10 puts into 3 places keep the last 3. */
    cs = conv_store_new(3, 60, 0);
    char id[8];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "k%d", i);
        conv_put(cs, id, conv(id));
        sleep_ms(1);
    }
    int kept = 0;
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "k%d", i);
        int h = has(cs, id);
        kept += h;
        if (i >= 7) CHECK_MSG(h, "%s, one of the last three, is gone", id);
    }
    CHECK_EQ_INT(kept, 3);
    conv_store_free(cs);
}

/* ttl 1 s: still there 0.6 s after a put, and 0.6 s after that (the get
 * refreshed it: 1.2 s after the put), gone 1.1 s after the last use. */
static void test_expiry(void) {
    conv_store *cs = conv_store_new(4, 1.0, 0);
    conv_put(cs, "a", conv("A"));
    conv_put(cs, "b", conv("B"));
    sleep_ms(600);
    CHECK(has(cs, "a"));
    sleep_ms(600);
    CHECK_MSG(has(cs, "a"), "a get did not refresh the conversation's expiry");
    CHECK_MSG(!has(cs, "b"), "a conversation outlived its ttl");
    sleep_ms(1100);
    CHECK(!has(cs, "a"));
    /* an expired id can be stored again */
    conv_put(cs, "a", conv("again"));
    char buf[16];
    const char *t = text_of(cs, "a", buf, sizeof buf);
    CHECK(t && !strcmp(t, "again"));
    conv_store_free(cs);
}

static void test_ids(void) {
    char a[CONV_ID_SIZE], b[CONV_ID_SIZE];
    memset(a, 'x', sizeof a);
    memset(b, 'x', sizeof b);
    conv_new_id(NULL, a);
    conv_new_id(NULL, b);
    CHECK_EQ_INT(strlen(a), 32);
    CHECK_EQ_INT(strlen(b), 32);
    CHECK(strspn(a, "0123456789abcdef") == 32 && strspn(b, "0123456789abcdef") == 32);
    CHECK(strcmp(a, b) != 0);
    /* 200 ids, no repeats */
    static char many[200][CONV_ID_SIZE];
    int dup = 0;
    for (int i = 0; i < 200; i++) {
        conv_new_id(NULL, many[i]);
        for (int k = 0; k < i; k++) dup += !strcmp(many[i], many[k]);
    }
    CHECK_EQ_INT(dup, 0);
    CHECK(conv_id_valid(a));
}

/* With an instance prefix (a replica behind a balancer): "<prefix>-<32 hex>",
 * a too-long prefix cut so the id still fits; what ids a client may choose. */
static void test_prefixed_ids(void) {
    char id[CONV_ID_SIZE];
    conv_new_id("r2", id);
    CHECK_EQ_INT(strlen(id), 35);
    CHECK(!strncmp(id, "r2-", 3) && strspn(id + 3, "0123456789abcdef") == 32);
    CHECK(conv_id_valid(id));
    char longp[200];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    conv_new_id(longp, id);
    CHECK_EQ_INT(strlen(id), CONV_PREFIX_MAX + 1 + 32);
    CHECK(id[CONV_PREFIX_MAX] == '-' && conv_id_valid(id));
    CHECK(conv_id_valid("host.example:8080-abc_1"));
    CHECK(!conv_id_valid(""));
    CHECK(!conv_id_valid("a b"));
    CHECK(!conv_id_valid("a\r\nX-Evil: 1"));
    CHECK(!conv_id_valid("caf\xc3\xa9"));
    CHECK(!conv_id_valid(longp));   /* 199 characters */
}

/* Four threads, each with its own ids in a store big enough for all: every
 * thread reads back exactly what it stored, while the others write. */
typedef struct { conv_store *cs; int t, bad; } worker;

static void *work(void *arg) {
    worker *w = arg;
    char id[CONV_ID_SIZE], want[32], buf[32];
    for (int round = 0; round < 200; round++) {
        int k = round % 8;
        snprintf(id, sizeof id, "t%d-%d", w->t, k);
        snprintf(want, sizeof want, "%d/%d", w->t, round);
        conv_put(w->cs, id, conv(want));
        const char *got = text_of(w->cs, id, buf, sizeof buf);
        w->bad += !got || strcmp(got, want) != 0;
    }
    return NULL;
}

static void test_threads(void) {
    conv_store *cs = conv_store_new(32, 60, 0);
    pthread_t th[4];
    worker w[4];
    for (int t = 0; t < 4; t++) {
        w[t] = (worker){cs, t, 0};
        pthread_create(&th[t], NULL, work, &w[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(w[t].bad == 0, "thread %d read back %d wrong conversations", t, w[t].bad);
    }
    conv_store_free(cs);
}

/* A conversation of about n bytes of JSON text (an image's base64). */
static json_t *sized(size_t n) {
    char *text = malloc(n + 1);
    memset(text, 'A', n);
    text[n] = 0;
    json_t *c = conv(text);
    free(text);
    return c;
}

static void test_byte_budget(void) {
    conv_store *cs = conv_store_new(16, 60, 10000);
    int count;
    size_t bytes;
    conv_put(cs, "a", sized(3000));
    conv_put(cs, "b", sized(3000));
    conv_put(cs, "c", sized(3000));
    conv_store_usage(cs, &count, &bytes);
    CHECK_EQ_INT(count, 3);
    CHECK_MSG(bytes > 9000 && bytes <= 10000, "%zu bytes held", bytes);
    CHECK(has(cs, "a"));                  /* a is now more recent than b */
    conv_put(cs, "d", sized(3000));       /* over the budget: b, the least recently used, goes */
    CHECK(!has(cs, "b") && has(cs, "a") && has(cs, "c") && has(cs, "d"));
    conv_put(cs, "e", sized(9000));       /* needs almost all: every other one goes */
    conv_store_usage(cs, &count, &bytes);
    CHECK_EQ_INT(count, 1);
    CHECK(has(cs, "e") && bytes > 9000 && bytes <= 10000);
    conv_put(cs, "f", sized(20000));      /* larger than the budget: not kept, the others stay */
    CHECK(!has(cs, "f") && has(cs, "e"));
    conv_put(cs, "e", sized(100));        /* a replaced conversation's bytes are returned */
    conv_store_usage(cs, &count, &bytes);
    CHECK_MSG(count == 1 && bytes < 200, "%d conversations, %zu bytes", count, bytes);
    conv_store_free(cs);
}

int main(void) {
    test_put_get_copy();
    test_lru();
    test_byte_budget();
    test_ids();
    test_prefixed_ids();
    test_threads();
    test_expiry();
    return check_summary();
}
