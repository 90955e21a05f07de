/* Helpers shared by the unit tests. */
#ifndef SLUICE_TEST_SUPPORT_H
#define SLUICE_TEST_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>
#include <jansson.h>

/* The tests' data folder: $SLUICE_TEST_DATA or "tests/data". */
const char *test_data_dir(void);

/* Read a whole file (NUL-terminated, *len set when len is not NULL); NULL on error. */
char *test_read_file(const char *path, size_t *len);

/*
 * Load JSON text, accepting integers beyond int64 (they become reals, as
 * kubectl's own reading makes them). NULL on error, with the reason printed.
 */
json_t *test_load_json(const char *text);

/*
 * Compare as kubectl's output is compared: same types and values, where an
 * integer and a real are equal when their numeric values are. On a difference
 * `where` (size n) names the first path that differs.
 */
int test_json_same(const json_t *a, const json_t *b, char *where, size_t n);

/* A fresh temporary folder (mkdtemp); free() the result; removed by test_rm_rf. */
char *test_tmpdir(void);
int test_rm_rf(const char *path);
int test_write_file(const char *path, const char *content);

/*
 * A fresh sandbox control plane (tests/sandbox/sandbox) in $SLUICE_SANDBOX_DIR
 * or a new temporary folder, whose path goes to dir (size n). Returns 0 or -1.
 */
int test_sandbox_up(char *dir, size_t n);
/* Stop it; the folder is removed unless it came from $SLUICE_SANDBOX_DIR. */
int test_sandbox_down(const char *dir);

#endif
