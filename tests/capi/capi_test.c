/* Drives a compiled model through the C API from C: load, prefill, decode, logits, errors.
 * usage: v4c-capi-test MODEL.v4a — prints what it checked; exits non-zero on any failure. */
#include "runtime/capi/v4c.h"

#include <math.h>
#include <stdio.h>

static int checks = 0, failures = 0;
#define CHECK(cond, ...)                                                                       \
  do {                                                                                         \
    ++checks;                                                                                  \
    if (!(cond)) {                                                                             \
      fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
      fprintf(stderr, __VA_ARGS__);                                                            \
      fprintf(stderr, "\n");                                                                   \
      ++failures;                                                                              \
    }                                                                                          \
  } while (0)

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.v4a\n", argv[0]);
    return 2;
  }
  v4c_model *model = v4c_create();
  CHECK(model != NULL, "v4c_create");
  CHECK(v4c_prefill(model, NULL, 0) != 0, "prefill before load must fail");
  CHECK(v4c_load(model, "/nonexistent.v4a") != 0, "loading a missing file must fail");
  printf("missing file: %s\n", v4c_error(model));

  v4c_model *prompt = v4c_create();
  CHECK(v4c_load(prompt, argv[1]) == 0, "%s", v4c_error(prompt));
  const int32_t tokens[] = {5, 17, 3, 99, 42, 7};
  CHECK(v4c_prefill(prompt, tokens, 6) == 0, "%s", v4c_error(prompt));
  int64_t rows = 0, vocab = 0;
  const float *logits = v4c_logits(prompt, &rows, &vocab);
  CHECK(logits != NULL && rows == 6 && vocab > 0, "rows %lld vocab %lld", (long long)rows,
        (long long)vocab);
  float last[4096];
  for (int64_t v = 0; v < vocab && v < 4096; ++v)
    last[v] = logits[5 * vocab + v];

  /* The same tokens as prefill 3 + three decode steps end at the same logits. */
  v4c_model *steps = v4c_create();
  CHECK(v4c_load(steps, argv[1]) == 0, "%s", v4c_error(steps));
  CHECK(v4c_prefill(steps, tokens, 3) == 0, "%s", v4c_error(steps));
  for (int i = 3; i < 6; ++i)
    CHECK(v4c_decode(steps, tokens[i]) == 0, "%s", v4c_error(steps));
  CHECK(v4c_position(steps) == 6, "position %lld", (long long)v4c_position(steps));
  const float *row = v4c_logits(steps, &rows, &vocab);
  CHECK(row != NULL && rows == 1, "decode gives one row");
  double diff = 0, norm = 0;
  for (int64_t v = 0; row && v < vocab && v < 4096; ++v) {
    diff += (row[v] - last[v]) * (row[v] - last[v]);
    norm += last[v] * last[v];
  }
  printf("prefill vs prefill+decode, last position: relative L2 %.3g\n", sqrt(diff / norm));
  CHECK(sqrt(diff / norm) < 1e-3, "prefill and decode disagree");

  /* MTP module 0 on the last call's positions (one decode step: one next token). */
  int32_t next = 7;
  CHECK(v4c_mtp(steps, 0, &next, 1) == 0, "%s", v4c_error(steps));
  const float *draft = v4c_logits(steps, &rows, &vocab);
  CHECK(draft != NULL && rows == 1 && isfinite(draft[0]), "MTP gives one finite row");
  CHECK(v4c_mtp(steps, 0, tokens, 2) != 0, "MTP with more tokens than positions must fail");
  CHECK(v4c_mtp(steps, 9, &next, 1) != 0, "a missing MTP module must fail");
  printf("missing MTP module: %s\n", v4c_error(steps));

  CHECK(v4c_decode(steps, (int32_t)vocab) != 0, "an out-of-vocabulary token must fail");
  printf("bad token: %s\n", v4c_error(steps));
  v4c_reset(steps);
  CHECK(v4c_position(steps) == 0, "reset");

  v4c_free(model);
  v4c_free(prompt);
  v4c_free(steps);
  printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}
