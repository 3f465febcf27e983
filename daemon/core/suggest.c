/* suggest.c — "did you mean": the choice closest to a mistyped name.
 *
 * The distance is Levenshtein's (insertions, deletions, substitutions, each
 * 1) on ASCII-case-folded bytes, computed with one row of d+1 cells. A
 * choice is suggested only when it is within max(2, len/3) edits of the
 * word, so a word suggests nothing rather than an unrelated name; a choice
 * that contains the word (of 3 or more letters) counts as close whatever
 * its length ("shap" -> "kernelshap", the closest of those that contain
 * it). Among close choices the nearest wins; ties go to the earlier choice, so the
 * answer is deterministic.
 */
#include <ctype.h>
#include <string.h>
#include "core.h"
#include "xai/methods.h"

#define MAX_LEN 64

static size_t distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > MAX_LEN || m > MAX_LEN) return (size_t)-1;
    size_t row[MAX_LEN + 1];
    for (size_t j = 0; j <= m; j++) row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t best = XD_MIN(up + 1, row[j - 1] + 1);
            row[j] = XD_MIN(best, sub);
            diag = up;
        }
    }
    return row[m];
}

const char *xai_suggest(const char *word, const char *const *choices, size_t n) {
    if (word == NULL || word[0] == '\0') return NULL;
    size_t len = strlen(word), limit = XD_MAX((size_t)2, len / 3);
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        if (choices[i] == NULL) continue;
        size_t d = distance(word, choices[i]);
        bool close = d <= limit || (len >= 3 && strcasestr(choices[i], word) != NULL);
        if (close && d < best_d) best_d = d, best = choices[i];
    }
    return best;
}
