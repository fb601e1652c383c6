/* test_api_keys.c - service/api_keys.h: keys from --api-key and a file,
 * and what the check lets through: each key exactly, nothing else (no
 * prefix, no extension, no empty or missing key); files that hold no key,
 * cannot be read or hold a key with a space are refused with the file and
 * line named.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "service/api_keys.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

int main(void) {
    char path[] = "/tmp/qvl-keys-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return check_summary();
    close(fd);
    qvl_error err = {0};

    api_keys *none = api_keys_load(NULL, NULL, &err);
    CHECK(none && !api_keys_required(none) && api_keys_check(none, NULL) && api_keys_check(none, "x"));
    api_keys_free(none);

    write_file(path, "# keys of the team\n\n  alice-0123456789  \nbob-abcdef\r\n   # retired: carol-1\n");
    api_keys *k = api_keys_load("ops-key", path, &err);
    CHECK_MSG(k != NULL, "%s", err.msg);
    if (k) {
        CHECK(api_keys_required(k));
        const char *good[] = {"ops-key", "alice-0123456789", "bob-abcdef"};
        for (int i = 0; i < 3; i++) CHECK_MSG(api_keys_check(k, good[i]), "%s refused", good[i]);
        const char *bad[] = {"", "ops-ke", "ops-key2", "alice-012345678", "bob-abcdeff", "carol-1",
                             "# keys of the team", " bob-abcdef", "OPS-KEY"};
        for (int i = 0; i < 9; i++) CHECK_MSG(!api_keys_check(k, bad[i]), "'%s' let through", bad[i]);
        CHECK(!api_keys_check(k, NULL));
        api_keys_free(k);
    }

    write_file(path, "# only comments\n\n");
    CHECK(api_keys_load(NULL, path, &err) == NULL && strstr(err.msg, "holds no key"));
    write_file(path, "good-key\nbad key\n");
    CHECK(api_keys_load(NULL, path, &err) == NULL && strstr(err.msg, "line 2") && strstr(err.msg, "spaces"));
    CHECK(api_keys_load("with space", NULL, &err) == NULL && strstr(err.msg, "--api-key"));
    unlink(path);
    CHECK(api_keys_load(NULL, path, &err) == NULL && strstr(err.msg, path) && strstr(err.msg, "No such file"));
    return check_summary();
}
