/* The v4c C API: load a compiled DeepSeek-V4 model (.v4a, CPU target) and run it.
 *
 *   v4c_model *m = v4c_create();
 *   if (v4c_load(m, "model.v4a") != 0) fprintf(stderr, "%s\n", v4c_error(m));
 *   v4c_prefill(m, tokens, n);              // logits of every prompt position
 *   v4c_decode(m, next_token);              // one more position
 *   const float *row = v4c_logits(m, &rows, &vocab);
 *   v4c_free(m);
 *
 * Functions returning int give 0 on success and -1 on failure (see v4c_error). Not thread-safe
 * for one model; separate models are independent. */
#ifndef V4C_C_API_H
#define V4C_C_API_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct v4c_model v4c_model;

v4c_model *v4c_create(void);
/* Opens and verifies an artifact; a model can be loaded once. */
int v4c_load(v4c_model *model, const char *artifact_path);
/* Runs `count` tokens at the next positions (a prompt, or any chunk of one). */
int v4c_prefill(v4c_model *model, const int32_t *tokens, int64_t count);
/* Runs one token at the next position. */
int v4c_decode(v4c_model *model, int32_t token);
/* MTP module k (speculative decoding): logits for the positions of the last prefill/decode
 * call given the `count` tokens that followed them (one per position), read with v4c_logits. */
int v4c_mtp(v4c_model *model, int64_t k, const int32_t *next_tokens, int64_t count);
/* Logits of the last prefill/decode/mtp call, row-major [rows, vocab]; valid until the next call. */
const float *v4c_logits(const v4c_model *model, int64_t *rows, int64_t *vocab);
/* Positions processed so far; v4c_reset starts a new sequence. */
int64_t v4c_position(const v4c_model *model);
void v4c_reset(v4c_model *model);
/* The last error message ("" if none). */
const char *v4c_error(const v4c_model *model);
void v4c_free(v4c_model *model);

#ifdef __cplusplus
}
#endif

#endif /* V4C_C_API_H */
