// The C API over the CPU engine (runtime/capi/v4c.h).
#include "runtime/capi/v4c.h"

#include "runtime/cpu/CpuEngine.h"

#include <memory>
#include <string>
#include <vector>

struct v4c_model {
  std::unique_ptr<v4c::Engine> engine;
  std::vector<float> logits;
  int64_t rows = 0;
  std::string error;

  int fail(std::string message) {
    error = std::move(message);
    return -1;
  }
  /// forward() on the tokens, or MTP module `mtp` when it is >= 0.
  int run(const int32_t *tokens, int64_t count, int64_t mtp = -1) {
    if (!engine)
      return fail("no model loaded (call v4c_load first)");
    if (!tokens || count <= 0)
      return fail("no tokens given");
    std::vector<int32_t> ids(tokens, tokens + count);
    std::vector<float> out =
        mtp >= 0 ? engine->mtpLogits(mtp, ids, error) : engine->forward(ids, error);
    if (out.empty())
      return -1;
    logits = std::move(out);
    rows = count;
    error.clear();
    return 0;
  }
};

extern "C" {

v4c_model *v4c_create(void) { return new (std::nothrow) v4c_model(); }

int v4c_load(v4c_model *model, const char *artifact_path) {
  if (!model)
    return -1;
  if (model->engine)
    return model->fail("a model is already loaded");
  if (!artifact_path)
    return model->fail("no artifact path given");
  model->engine = v4c::cpu::openCpuEngine(artifact_path, model->error);
  return model->engine ? 0 : -1;
}

int v4c_prefill(v4c_model *model, const int32_t *tokens, int64_t count) {
  return model ? model->run(tokens, count) : -1;
}

int v4c_decode(v4c_model *model, int32_t token) { return model ? model->run(&token, 1) : -1; }

int v4c_mtp(v4c_model *model, int64_t k, const int32_t *next_tokens, int64_t count) {
  if (!model)
    return -1;
  if (k < 0)
    return model->fail("no MTP module " + std::to_string(k));
  return model->run(next_tokens, count, k);
}

const float *v4c_logits(const v4c_model *model, int64_t *rows, int64_t *vocab) {
  if (!model || !model->engine || model->logits.empty())
    return nullptr;
  if (rows)
    *rows = model->rows;
  if (vocab)
    *vocab = model->engine->vocabSize();
  return model->logits.data();
}

int64_t v4c_position(const v4c_model *model) {
  return model && model->engine ? model->engine->position() : 0;
}

void v4c_reset(v4c_model *model) {
  if (model && model->engine) {
    model->engine->reset();
    model->logits.clear();
    model->rows = 0;
  }
}

const char *v4c_error(const v4c_model *model) { return model ? model->error.c_str() : "null model"; }

void v4c_free(v4c_model *model) { delete model; }

} // extern "C"
