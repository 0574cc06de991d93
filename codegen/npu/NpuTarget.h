// The NPU target's pieces of codegen: the arch as IR, GEMM kernels, synchronization, buffer
// planning and serialization to kernel binaries (runtime/npu/Kernel.fbs).
#pragma once

#include "runtime/npu/Arch.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>
#include <string>
#include <vector>

namespace flatbuffers {
class FlatBufferBuilder;
}

namespace v4c::npu {

/// The module attribute npu.arch that the npu dialect's verifiers read (ir/Npu/IR/NpuOps.h).
mlir::DictionaryAttr archAttr(mlir::MLIRContext *context, const Arch &arch);
/// Records `arch` on the module (npu.arch and npu.arch_json, the full description).
void setModuleArch(mlir::ModuleOp module, const Arch &arch);
/// The full description recorded by setModuleArch.
bool moduleArch(mlir::ModuleOp module, Arch &arch, std::string &error);

//===----------------------------------------------------------------------===//
// GEMM: y[M, N] = x[M, K] · w[N, K]ᵀ on the cube
//===----------------------------------------------------------------------===//

struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  mlir::Type inputType; // of x and w in GM (the cube's A and B)
  mlir::Type outputType; // of y (f32, bf16 or f16)
  /// M comes with each launch (the kernel's scalar argument "m"); `m` is then only the size
  /// the tiling is chosen for.
  bool dynamicM = false;
  /// MoE experts: w holds `experts` matrices [N, K]; the rows and each row block's matrix
  /// come from a MoeRoute table (M per launch: the scalars rows, tokens).
  int64_t experts = 0;
  /// Batched (graph.grouped_linear): `batches` products side by side, x [M, batches·K] ·
  /// w [batches·N, K] → y [M, batches·N], batch b on x's and y's b-th column block.
  int64_t batches = 1;
  /// FixPipe's epilogue: max(y, 0); for an i8 outputType, y · outputScale quantized.
  bool relu = false;
  float outputScale = 1.0f;
};

/// Tile sizes: an output tile is mt x nt (multiples of 16); K moves into L1 in chunks of kt1
/// and from L1 to the cube in steps of kt (a multiple of the cube's k0 dividing kt1). A
/// recorded, overridable decision (npu.tiling = [mt, nt, kt1, kt] on the kernel).
struct GemmTiling {
  int64_t mt = 0, nt = 0, kt1 = 0, kt = 0;
  int64_t blockDim = 0; // blocks launched (<= cube cores)
};

/// The largest tiles that double-buffer A and B in L1 and L0A/L0B and keep one C tile in L0C,
/// favouring a wide N (weights stream, x is reused), as many blocks as tiles (up to the cube
/// cores), and L1 chunks of up to four L0 steps.
GemmTiling chooseGemmTiling(const Arch &arch, const GemmShape &shape);
/// Why `tiling` cannot run `shape` on `arch` (empty when it can).
std::string checkGemmTiling(const Arch &arch, const GemmShape &shape, const GemmTiling &tiling);

/// Appends kernel `name` (an AIC kernel with params x, w, y, and the scalar m when M is
/// dynamic) to `module`: each block loops over
/// its output tiles; per tile, the K loop moves A and B tiles GM → L1 (ND→NZ) → L0A/L0B, in
/// ping-pong buffers, and accumulates on the cube in L0C; FixPipe writes the tile to y. No
/// synchronization yet: v4c-npu-insert-sync adds it.
mlir::func::FuncOp buildGemmKernel(mlir::ModuleOp module, llvm::StringRef name,
                                   const GemmShape &shape, const GemmTiling &tiling);

//===----------------------------------------------------------------------===//
// Vector kernels
//===----------------------------------------------------------------------===//

/// Whether rows of `width` f32 fit the RMSNorm vector kernel (whole repeats, one reduction).
bool rmsNormFitsVectorKernel(int64_t width);
/// Appends an AIV kernel: y[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) (· w), params x
/// (w) y. Vector kernels take two scalars: rows (all dims but the last) and tokens (the first).
mlir::func::FuncOp buildRmsNormKernel(mlir::ModuleOp module, llvm::StringRef name, int64_t width,
                                      bool weighted, double eps, int64_t blockDim);

/// Whether rows of `width` f32 rotating their last `ropeDim` channels fit the RoPE kernel.
bool ropeFitsVectorKernel(int64_t width, int64_t ropeDim);
/// Appends an AIV kernel rotating the interleaved pairs of the last 2·|invFreqs| channels of
/// each of `heads` rows of `width` per token, at the token's position (i64; `inverse`: the
/// conjugate rotation); params x positions y (and three constant tables).
mlir::func::FuncOp buildRopeKernel(mlir::ModuleOp module, llvm::StringRef name, int64_t heads,
                                   int64_t width, llvm::ArrayRef<float> invFreqs, bool inverse,
                                   int64_t blockDim);

/// Whether rows of `width` f32 fit the SwiGLU kernel.
bool swigluFitsVectorKernel(int64_t width);
/// Appends an AIV kernel: y = silu(min(g, limit)) · clamp(u, -limit, limit) (limit 0: no
/// clamp), params gate up y; `routed`: times each row's routing weight, params gate up route y
/// (the MoE experts' activation, rows in expert order).
mlir::func::FuncOp buildSwigluKernel(mlir::ModuleOp module, llvm::StringRef name, int64_t width,
                                     double limit, int64_t blockDim, bool routed = false);

/// Whether rows of `width` (a power of two) fit the Hadamard kernel.
bool hadamardFitsVectorKernel(int64_t width);
/// The normalized Walsh-Hadamard transform of each row: params x y (and constant tables).
mlir::func::FuncOp buildHadamardKernel(mlir::ModuleOp module, llvm::StringRef name,
                                       int64_t width, int64_t blockDim);
/// Embedding rows by token id: params table tokens y (`tokenBytes` per id).
mlir::func::FuncOp buildEmbeddingKernel(mlir::ModuleOp module, llvm::StringRef name,
                                        int64_t vocab, int64_t width, int64_t tokenBytes,
                                        int64_t blockDim);

//===----------------------------------------------------------------------===//
// Attention (AttentionKernels.cpp): graph.sparse_attention on the vector cores
//===----------------------------------------------------------------------===//

struct AttentionShape {
  int64_t heads = 0, headDim = 0, window = 0, ratio = 0;
  enum Compressed { kNone, kAll, kIndexed } compressed = kNone; // none, HCA, CSA
  int64_t entries = 0; // compressed candidates per query: top-k (CSA), the cache's capacity (HCA)
  double scale = 1.0;
};
/// Whether the attention kernel holds a query's candidates (UB) and rows.
bool attentionFitsVectorKernel(const AttentionShape &shape);
/// Appends the attention kernel: params q kv positions sink ring [compressed] [indices] out,
/// scalars rows (tokens), tokens, entries (compressed rows).
mlir::func::FuncOp buildAttentionKernel(mlir::ModuleOp module, llvm::StringRef name,
                                        const AttentionShape &shape, int64_t blockDim);
/// graph.kv_append for a cache of `capacity` rows: params entries cache out, scalars rows
/// (entries appended), tokens, entries (rows after the append).
mlir::func::FuncOp buildKvAppendKernel(mlir::ModuleOp module, llvm::StringRef name,
                                       int64_t width, int64_t capacity, int64_t blockDim);
/// Whether a compressor's pending rows (and a few more) fit the pooling kernel's UB.
bool compressorFitsVectorKernel(int64_t ratio, int64_t width, bool overlap);
/// graph.compressor's pooling after its GEMMs (one block, tokens in order): params kv score
/// ape positions pending entries entry_positions, scalars rows, tokens, entries.
mlir::func::FuncOp buildCompressorPoolKernel(mlir::ModuleOp module, llvm::StringRef name,
                                             int64_t ratio, int64_t width, bool overlap);
/// Whether the indexer kernel holds a token's `heads` query rows of `dim` and `capacity` scores.
bool indexTopkFitsVectorKernel(int64_t heads, int64_t dim, int64_t capacity);
/// graph.index_topk's scores for at most `capacity` entries: params q weights keys positions
/// scores (the scratch), scalars rows, tokens, entries.
mlir::func::FuncOp buildIndexScoreKernel(mlir::ModuleOp module, llvm::StringRef name,
                                         int64_t heads, int64_t dim, int64_t capacity,
                                         int64_t ratio, double scale, int64_t blockDim);
/// graph.index_topk's selection from the scores: params scores positions out.
mlir::func::FuncOp buildIndexSelectKernel(mlir::ModuleOp module, llvm::StringRef name,
                                          int64_t capacity, int64_t topk, int64_t ratio,
                                          int64_t blockDim);
/// Appends the kernel writing the last `window` kv rows into the ring state: params kv
/// positions ring.
mlir::func::FuncOp buildRingUpdateKernel(mlir::ModuleOp module, llvm::StringRef name,
                                         int64_t headDim, int64_t window, int64_t blockDim);

//===----------------------------------------------------------------------===//
// mHC residual streams (HcKernels.cpp)
//===----------------------------------------------------------------------===//

/// Whether `streams` streams of rows of `width` f32 fit the mHC kernels.
bool hcFitsVectorKernel(int64_t streams, int64_t width);
/// hc_pre (hc_head when `head`) after the mixes GEMM: params streams mixes base scale y
/// [post comb] (and a constant table).
mlir::func::FuncOp buildHcMixKernel(mlir::ModuleOp module, llvm::StringRef name, int64_t streams,
                                    int64_t width, bool head, int64_t sinkhornIters,
                                    double hcEps, double normEps, int64_t blockDim);
/// hc_post: params f streams post comb out.
mlir::func::FuncOp buildHcPostKernel(mlir::ModuleOp module, llvm::StringRef name,
                                     int64_t streams, int64_t width, int64_t blockDim);
/// hc_expand: params x streams.
mlir::func::FuncOp buildHcExpandKernel(mlir::ModuleOp module, llvm::StringRef name,
                                       int64_t streams, int64_t width, int64_t blockDim);

//===----------------------------------------------------------------------===//
// MoE experts (MoeKernels.cpp): route → grouped GEMM (w1, w3) → routed SwiGLU → grouped GEMM
// (w2) → combine
//===----------------------------------------------------------------------===//

/// The route kernel (one AIV block): the table, and x's rows copied to xperm in expert order;
/// params experts weights x route xperm.
mlir::func::FuncOp buildMoeRouteKernel(mlir::ModuleOp module, llvm::StringRef name,
                                       int64_t experts, int64_t topk, int64_t width,
                                       int64_t rowsPerItem);
/// Whether the router kernel ranks `experts` (whole repeats, or one) and picks `topk`.
bool gateFitsVectorKernel(int64_t experts, int64_t topk);
/// graph.moe_gate after its GEMM: params logits [bias] [tid2eid tokens] weights experts (and a
/// constant table); hash routing when `hashIdBytes` > 0 (the table's element size).
mlir::func::FuncOp buildMoeGateKernel(mlir::ModuleOp module, llvm::StringRef name,
                                      int64_t experts, int64_t topk, double routeScale,
                                      bool biased, int64_t hashIdBytes, int64_t hashTableBytes,
                                      int64_t tokenBytes, int64_t blockDim);
/// y[t] = Σ_k yperm[row of (t, k)], in k order; params yperm route y.
mlir::func::FuncOp buildMoeCombineKernel(mlir::ModuleOp module, llvm::StringRef name,
                                         int64_t topk, int64_t width, int64_t blockDim);

//===----------------------------------------------------------------------===//
// Passes over kernels (also registered for v4c-opt)
//===----------------------------------------------------------------------===//

/// Adds set_flag/wait_flag pairs so that every pair of conflicting buffer accesses by different
/// pipes is ordered, loops included (loop-carried reuse gets a pre-set before the loop and a
/// drain after it); merges pairs that one flag can cover; assigns event ids.
mlir::LogicalResult insertSync(mlir::func::FuncOp kernel);
/// Gives every npu.alloc an offset in its space (kernel-lifetime buffers, packed with the
/// space's alignment) and records the peak per space; fails when a space overflows.
mlir::LogicalResult planBuffers(mlir::func::FuncOp kernel);

void registerNpuPasses();

//===----------------------------------------------------------------------===//
// Offload from the host program (`v4c compile --target npu`)
//===----------------------------------------------------------------------===//

struct OffloadPlan {
  mlir::OwningOpRef<mlir::ModuleOp> kernels; // the npu-dialect kernels, synchronized and planned
  std::vector<uint8_t> library;              // the same, serialized (a KernelLibrary)
  std::map<std::string, int> launchSites; // by kind of kernel
  size_t kernelCount = 0;
  std::map<std::string, int> hostOps; // graph ops the host code still computes, by kind
};

/// Moves what the NPU can run out of `module` (after the graph passes, before memory
/// planning): matrix products without activation quantization become launches of cube GEMM
/// kernels, their weights f32 parameters decoded at compile time (v4c.dequantize); the other
/// op kinds launches of vector-core kernels where their sizes fit (npu.launch on the op).
/// `maxSeqLen` bounds the compressed KV caches (attention's candidates).
mlir::FailureOr<OffloadPlan> offloadToNpu(mlir::ModuleOp module, const Arch &arch,
                                          int64_t maxSeqLen);

/// Serializes every kernel of `module` (after sync and planning) into a KernelLibrary.
bool serializeKernels(mlir::ModuleOp module, flatbuffers::FlatBufferBuilder &builder,
                      std::string &error);

} // namespace v4c::npu
