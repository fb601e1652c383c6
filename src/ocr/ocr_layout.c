/* ocr_layout.c - judging the page layout a recogniser chose, from the lines
 * it returned (see ocr_internal.h: ocr_lines_table_by_columns).
 *
 * Tesseract's automatic layout analysis takes the wide gaps between a
 * table's columns for gutters between text columns, depending on the print
 * size: a Chinese table read right at 15 px marks came back column by
 * column at 20 px (a 150 dpi scan rendered at 200 dpi), cells out of order
 * and whole columns dropped. Its lines then show it: short cells standing
 * side by side at the same height, each a "line" of its own.
 */
#include "ocr/ocr_internal.h"

#include <stdlib.h>

#define TABLE_MIN_LINES 4    /* fewer lines: nothing to tell a table by */
#define TABLE_CELL_CHARS 12  /* a cell holds a word or a number; a column of prose holds more */

/* Whether lines a and b sit side by side: overlapping over at least half
 * the lower one's height, apart from left to right. */
static bool side_by_side(const ocr_line *a, const ocr_line *b) {
    int top = a->y > b->y ? a->y : b->y;
    int bottom = a->y + a->h < b->y + b->h ? a->y + a->h : b->y + b->h;
    int lower = a->h < b->h ? a->h : b->h;
    bool level = lower > 0 && 2 * (bottom - top) >= lower;
    bool apart = a->x + a->w <= b->x || b->x + b->w <= a->x;
    return level && apart;
}

static int code_points(const char *s) {
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

bool ocr_lines_table_by_columns(const ocr_result *res) {
    int n = res->n_lines;
    if (n < TABLE_MIN_LINES) return false;
    int *cells = malloc(sizeof *cells * (size_t)n), k = 0;
    if (!cells) return false;   /* no memory to judge by: keep the reading as it is */
    for (int i = 0; i < n; i++) {
        bool paired = false;
        for (int j = 0; j < n && !paired; j++) paired = j != i && side_by_side(&res->lines[i], &res->lines[j]);
        if (paired) cells[k++] = code_points(res->lines[i].text);
    }
    bool table = false;
    if (2 * k >= n) {
        qsort(cells, (size_t)k, sizeof *cells, cmp_int);
        table = cells[k / 2] <= TABLE_CELL_CHARS;
    }
    free(cells);
    return table;
}
