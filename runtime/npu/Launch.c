#include "runtime/npu/Launch.h"

#include <stdio.h>
#include <stdlib.h>

static v4c_npu_launcher installed;
static void *installedContext;

void v4c_npu_set_launcher(v4c_npu_launcher launcher, void *context) {
  installed = launcher;
  installedContext = context;
}

void v4c_npu_launch(int32_t kernel, void *b0, void *b1, void *b2, void *b3, void *b4, void *b5,
                    void *b6, void *b7, int64_t s0, int64_t s1, int64_t s2) {
  if (!installed) { /* the runtime always installs one before calling the model */
    fprintf(stderr, "v4c: NPU kernel %d launched with no NPU runtime attached\n", (int)kernel);
    abort();
  }
  void *const buffers[V4C_NPU_LAUNCH_BUFFERS] = {b0, b1, b2, b3, b4, b5, b6, b7};
  const int64_t scalars[V4C_NPU_LAUNCH_SCALARS] = {s0, s1, s2};
  installed(installedContext, kernel, buffers, scalars);
}
