/* How compiled host code launches NPU kernels (the artifact's code calls v4c_npu_launch; the
 * runtime that loaded it installs the launcher first). Linked into the model's shared object as
 * a tiny C archive, so that the code needs nothing from the process that loads it. */
#ifndef V4C_RUNTIME_NPU_LAUNCH_H
#define V4C_RUNTIME_NPU_LAUNCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs kernel `kernel` of the artifact's library with up to V4C_NPU_LAUNCH_BUFFERS GM buffers
 * (in the kernel's parameter order, constant parameters skipped) and V4C_NPU_LAUNCH_SCALARS
 * scalar arguments (the kernel reads its first ones). */
#define V4C_NPU_LAUNCH_BUFFERS 8
#define V4C_NPU_LAUNCH_SCALARS 3
/* The contract's version, recorded in kernel libraries (KernelLibrary.abi): bumped whenever the
 * launch arguments or the meaning of an instruction change. */
#define V4C_NPU_ABI 3
typedef void (*v4c_npu_launcher)(void *context, int32_t kernel,
                                 void *const buffers[V4C_NPU_LAUNCH_BUFFERS],
                                 const int64_t scalars[V4C_NPU_LAUNCH_SCALARS]);

void v4c_npu_set_launcher(v4c_npu_launcher launcher, void *context);
void v4c_npu_launch(int32_t kernel, void *b0, void *b1, void *b2, void *b3, void *b4, void *b5,
                    void *b6, void *b7, int64_t s0, int64_t s1, int64_t s2);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* V4C_RUNTIME_NPU_LAUNCH_H */
