#!/usr/bin/env node
/**
 * Install-time patch of @jax-js/jax 0.1.25 (npm's `postinstall` runs it; idempotent; each edit is
 * small and written so it could be offered upstream, to src/backend/wasm).
 *
 * 1. Matmul micro-tile. jax-js's wasm matmul kernel (its output-vectorised SIMD reduction)
 *    computes TILED_SIMD_MICRO_ROWS rows × TILED_SIMD_MICRO_VECTORS f32x4 vectors of outputs per
 *    step of k. At 4 × 4 that is 16 f32x4 accumulators plus the loaded vectors and splatted
 *    scalars: more than the 16 xmm registers V8's x64 code generator allocates from, so
 *    accumulators spill on every step. 2 × 4 keeps 8 accumulators and the operands in registers.
 *    Measured on the reference training step (bench/compare.mts: CPU time per step, 1 thread,
 *    interleaved rounds, Node 20 with relaxed SIMD, 2-core Xeon with AVX-512): 1.18x over 4 × 4
 *    (paired 1.15-1.30); 3 × 4 the same within noise, 1 × 4 1.09x, 2 × 8 1.00x; on Node 24 1.11x.
 *    Each output still sums over k in the same order.
 * 2. SIMD reciprocal, exp and log. Element-wise kernels containing a division, exp or log
 *    (softmax, sigmoid/GELU, norms) were generated as scalar code. With these ops allowed in the
 *    SIMD path, reciprocal is f32x4.div (the same IEEE division per lane) and exp/log call jax-js's
 *    own scalar function once per lane, so values are unchanged while loads, index arithmetic and
 *    the rest of the expression vectorise. Measured as above: 1.05x on top of edit 1 (paired
 *    1.02-1.06).
 * 3. Row-block pointer sharing in batched matmuls. Attention's contractions (p·v, q·kᵀ and their
 *    gradients) read the operand shared by a micro-tile's rows through an index that contains the
 *    batch and head (gidx / 16384, gidx / 4096 ...). jax-js decides whether rows can share that
 *    operand's pointer by rewriting gidx to gidx + tileSize and comparing the simplified index,
 *    which fails across a batch boundary, so each row loaded the same vectors again through its
 *    own pointer. A micro-tile block starts at a multiple of microRows × tileSize (the alignment
 *    guard of the fast path), so an index that uses gidx only as gidx / D with D a multiple of that
 *    span, or as gidx % D or (gidx / D) % M inside one row, is the same for every row of the block:
 *    such reads now share one pointer and one load per block, in both the output-vectorised and
 *    the k-vectorised kernels. Measured (1 thread, CPU time, interleaved, 2-core Xeon, Node 20 +
 *    relaxed SIMD, shared machine): attention shapes 1.7-2.1x (q·kᵀ [64,128,32]: 6.97 -> 4.03 ms,
 *    p·v 3.41 -> 2.00 ms, p·v with v stored transposed 5.45 -> 2.61 ms), other matmuls unchanged;
 *    the reference step 1.06x (paired 1.005-1.093, 4 rounds). Sums over k keep their order.
 * 4. SIMD exp. Edit 2 let element-wise kernels with exp vectorise but called the scalar exp once
 *    per lane. The same algorithm (round(x / ln 2), a degree-6 Taylor polynomial of the remainder,
 *    scale by 2^k, +inf for k > 127 and 0 for k < -126) is now emitted inline as f32x4 / i32x4
 *    operations: the same IEEE operations in the same order per lane, so values are unchanged
 *    (tested over exp's whole range with ±inf and NaN). Measured as in 3: softmax over
 *    [64,128,128] 1.7x (about 10 -> 5.8 ms), the reference step 1.03x on top of edit 3 (paired
 *    0.996-1.057, 4 rounds).
 * 5. k-vectorised row maxima and minima. Softmax's max over the last axis ran on the scalar path
 *    (jax-js's k-vectorised kernel took only sums). Max and min give the same value in any order
 *    (wasm's f32.max and f32x4.max agree on NaN and on -0 < +0), so lane-wise maxima then the
 *    maximum of the lanes equal the scalar loop. Measured as in 3: max over the last axis of
 *    [64,128,128] 2.7x (about 2.8 -> 1.0 ms), softmax 1.3x; on the reference step within noise
 *    (0.995x, paired 0.975-1.091, 4 rounds: the maxima are about 2 % of the step).
 * 6. Lane sums of the k-vectorised kernel by transpose. That kernel (A·Bᵀ: q·kᵀ, g·Wᵀ gradients,
 *    p·v with v stored transposed) keeps one f32x4 accumulator per output and ended every block of
 *    4 × 4 outputs with 16 chains of extract, add, extract, add..., 16 output addresses and 16
 *    scalar stores. Four adjacent outputs' accumulators are now transposed with 8 i8x16.shuffle,
 *    so ((c0 + c1) + c2) + c3 gives each output ((l0 + l1) + l2) + l3 in the scalar order (max and
 *    min likewise), and with a plain epilogue the four sums leave in one vector store. Measured
 *    with bench/mm-shapes.mts in one process (JAX_B: both copies loaded, rounds interleaved with the
 *    order alternating, then the pair swapped and the geometric mean taken, since two loaded copies
 *    of identical code already differ by up to 10 % per shape; 1 thread, CPU time, shared 2-core
 *    Xeon): q·kᵀ [64,128,32] 1.08x, p·v with v transposed 1.035x, g·Wᵀ 1.01-1.03x, shapes on the
 *    other kernel 0.99-1.03x (noise); the reference step within
 *    noise (bench/compare.mts, 11 interleaved rounds: paired CPU ratios 0.92-1.11, median 1.025),
 *    losses bit-identical.
 * 7. Unrolled k steps of the k-vectorised kernel read at constant offsets. That kernel unrolls its
 *    k loop (kUnroll, up to 4) but added 16 bytes to every operand pointer after each unrolled step
 *    (8 adds per 16 multiply-adds at 4 × 4); the steps now load at memarg offsets 0, 16, 32, 48
 *    and the pointers advance once per iteration. The same addresses are read and each sum keeps
 *    its order. (Unlike the k-unroll tried on the output-vectorised kernel, below, no unrolling is
 *    added.) Measured as in 6: g·Wᵀ 1.05-1.08x (k = 512 and k = 128, two swapped pairs each),
 *    q·kᵀ (k = 32, two iterations) 0.98-1.03x, other shapes within noise; the reference step
 *    1.043x CPU time (bench/compare.mts, 6 rounds, paired 0.95-1.11), losses bit-identical.
 *
 * 8. The wasm allocator reuses larger free blocks. jax-js keeps one free list per size class and,
 *    above 64 KiB, every page count is its own class, so memory freed at one large size was never
 *    reused at another: a process that evaluates, then trains PPO (many prompt lengths and batch
 *    sizes) grew until "Allocation exceeds the 4 GiB memory32 limit" (it stopped a quick
 *    sft-vs-rl run twice). On a miss, a request above 64 KiB takes the smallest free block of up to
 *    twice its class, which keeps its own class when freed. Memory only, no value changes.
 *    Measured with scripts/pilots/sft-vs-rl-timing.mts (evaluations of 200 and 500 episodes per
 *    split, the KL estimate, 3 PPO updates in one process, 1 thread): peak RSS 2,100 MB against
 *    4,234 MB without the edit, run side by side; the same wall time per update within noise.
 *
 * 9. Buffers get their memory when a kernel first uses them, and freed memory is reused at once.
 *    jax-js's jit program ran all its mallocs when it was called, before any kernel was dispatched,
 *    so no block freed inside a step was reused within that step; and with the worker pool each
 *    dispatched kernel kept its buffers alive until it finished, while the whole step is queued
 *    before the first kernel ends, so every buffer of a step (and of the next one, queued while
 *    the last optimizer kernels still ran) was live at once. A buffer now takes its block when a
 *    kernel (or the main thread) first touches it, and a freed block goes straight back to the
 *    allocator: the pool runs kernels one at a time in dispatch order, so a later kernel can take
 *    it. Only the main thread's own writes (an array's initial data, a kernel or routine run
 *    synchronously) skip a block freed after the last kernel that has finished (a test writes a
 *    new array while a queued kernel still has to read the freed one), and a synchronous routine
 *    places all its buffers before it views any (a placement may grow the memory, which detaches
 *    an unshared memory's earlier views: a test sorts on fresh memory). Memory only, no value
 *    changes. Measured on the reference step (bench/ref-step.ts, 2-core Xeon, shared machine):
 *    jax-js's wasm heap 265 -> 116 MB with 1 thread and 443 -> 116 MB with 2; peak RSS 438 ->
 *    273 MB (1 thread) and 625-634 -> 300 MB (2 threads); the live tensors at the step's peak are
 *    103 MB (17 of 4 MB: attention scores and the MLP's hidden layer). Losses bit-identical; CPU
 *    time per step within noise (bench/compare.mts, 2 threads, 5 rounds: paired CPU ratios 0.95-1.10,
 *    medians 1.07x).
 * 10. No copy kernel for a shared reshape (in jax-js's frontend, dist/index.*: jit's graph
 *    splitting). A value that feeds two or more kernels gets a kernel of its own; when that value
 *    is a reshape (or a chain of reshapes) of a computed value, the kernel was a plain copy with
 *    the same bytes as its input, since a reshape keeps the row-major order: attention's
 *    probabilities and the MLP's hidden layer (4 MB each per layer), the residual stream and the
 *    logits, each reshaped for a contraction's forward and its gradient. The reshape now stays a
 *    view that each kernel reads, and the value under it is materialised instead. Reference step:
 *    308 -> 288 kernels, 20 copies (about 36 MB written and read) fewer per step, wasm heap
 *    116 -> 111 MB; the same kernels otherwise, so values are unchanged (losses bit-identical).
 *    A reshape that feeds a routine (scatter, sort, ...) or a concatenate/pad keeps jax-js's own
 *    path: those need a materialised input (omni's embedding gradient, a scatter, threw "routine
 *    primitive scatter input is not imm" without this exception).
 * 11. One instance per kernel on the main thread. Without a worker pool (one thread) every
 *    dispatch instantiated its kernel's wasm module again (308 instantiations per reference step);
 *    the kernel function is now kept per compiled program, as the pool's workers already do.
 *    Same code, same values.
 *    Edits 10 and 11 together, on top of 9 (bench/compare.mts, CPU time per step, shared machine
 *    at load 9-10): 1 thread 1.075x (paired 1.01-1.12, 5 rounds), 2 threads 1.03x (paired
 *    0.90-1.31, 5 rounds; edit 11 does not apply there); losses bit-identical. Edits 9-11 against
 *    edits 1-8 (same harness, machine at load 5-10): 1 thread 1.11x CPU time (paired 1.04-1.18,
 *    5 rounds), 1.26x wall (paired 1.07-1.37); 2 threads 1.07x CPU (paired 0.70-1.40, 6 rounds),
 *    1.27x wall (paired 0.88-1.53). Generation (bench/generate.ts, 2 threads, 2 rounds): peak RSS
 *    284-287 -> 226-236 MB, no slowdown (the machine was too loaded to time it better).
 * 12. Small kernels on the main thread. With a worker pool every kernel went through the pool's messages and a
 *    kernel of 1,024 outputs or more was split over the workers: a LayerNorm over [32, 128] or a softmax row of a
 *    decode step paid a thread round trip (and moved its inputs and outputs between cores) for a few microseconds
 *    of work. A kernel whose work (outputs × reduction length) is at most 65,536 now runs on the main thread, in its
 *    place in the pool's queue (so it still sees every earlier kernel's writes, and later ones see its own), with one
 *    instance per kernel as in edit 11; larger kernels (matmuls, the prefill, a decode step's attention over the
 *    cache) are split over the pool as before. Same code per output, so values are unchanged. Generation at the
 *    bench's shape (scripts/pilots/speed-generate-threads.mts, 2 threads, interleaved in one process) sends 15.2
 *    kernels per new token through the pool (all split over both threads) instead of 50.2 (32.2 split; counted at
 *    the pool's workers), the prefill 51 instead of 57. Measured only on a shared machine at load 9-12
 *    (2 cores; an idle run is still to do): ms per call 7,878 -> 4,471 (paired 1.98x, 1.62-2.04, 5 rounds) and,
 *    the pilot at nice -10, 6,423 -> 4,440 (paired 1.46x, 0.63-1.97); every kernel on the main thread took 815-983
 *    ms there (a pool round trip waits for a time slice when the cores are busy). Tokens bit-identical.
 * 13. The prepared kernel kept per Kernel object. A jit program dispatches the same Kernel objects at every call,
 *    and each dispatch hashed the kernel's whole expression tree to find its compiled program (about 2 % of a
 *    1-thread generation call's CPU profile, ~50 kernels per token). The executable is now kept in a WeakMap
 *    per Kernel object (kernels are immutable); eager ops make new Kernel objects and hash as before. Tokens and
 *    log-probabilities bit-identical; CPU time within noise at load 10 (5 process pairs, paired 0.91-1.10).
 * 14. A jit call's outputs share one set of pending executes (in jax-js's frontend, dist/index.*). Every output
 *    array of a jit call copied the call's whole list of pending executes into a Set of its own, and the first read
 *    of each then walked its copy to drop the submitted ones: about 100 outputs × 288 executes per reference step
 *    (params, both AdamW moments, loss, norm), O(outputs × kernels) Set work on the main thread at every step.
 *    The outputs now share one Set; an array copies it before adding an execute of its own (#realize, the only
 *    place a set grows), and dropping a submitted execute from the shared set is what each copy would have done
 *    (submission is final, and every read of the set filters submitted ones). Reference counts, buffers and
 *    kernels are unchanged, so values are. Measured with scripts/pilots/speed-main-thread.mts (1 thread, process
 *    CPU time of the jitted call, interleaved fresh processes, shared 2-core EPYC at load 4-7): the call 5.2-7.1 ->
 *    1.9-3.8 ms per step (three runs, 10 pairs: paired 1.35-3.49x, median 2.3x), about 1 % of the step (whole-step
 *    ratios within noise; src/engine/README.md, sixth pass).
 *
 * 15. A contraction's input that reaches its producer through a broadcast is materialised (in jax-js's frontend,
 *    dist/index.*: jit's graph splitting). jax-js gives a dot's input producer a kernel of its own when the input
 *    shape shows reuse (a size-1 axis the contraction broadcasts), so that the producer is not recomputed for every
 *    output that reads it. A gradient's contraction gets its input as an explicit broadcast view instead (dx = dy · Wᵀ
 *    is built from broadcast(dy) with a full shape), which that check does not see: when dy also feeds the weight
 *    gradient it has two consumers and a kernel anyway, but with the weight frozen (not differentiated) dy's
 *    producer was fused into the contraction. For attention's projection dy is the concatenate of the q, k and v
 *    gradients, so every output of dx re-read and re-added three arrays inside its k loop, in jax-js's scalar
 *    reduction path (not a plain matmul): omni's depth transformer with its head frozen (sft-1, image stages), and
 *    the frozen reader LM behind the T2 tokenizer's transcript loss. A view chain from a contraction's input to its
 *    producer that contains a broadcast now marks that producer, as a reuse shape does. Values: the producer is
 *    computed once by the same operations, but the contraction now runs on the matmul path, whose multiply-adds may
 *    be fused (relaxed SIMD), so the gradient can differ in the last bits from the scalar path. Everywhere else the
 *    producer already had a kernel: the nine experiments' tiny presets give byte-identical metrics with and without
 *    the edit except omni's and the tokenizer study's (their frozen stages and T2 arms). Measured:
 *    scripts/pilots/speed-frozen-grad.mts (x [240, 8, 64] · W [64, 192] split into q | k | v, the input gradient with
 *    W frozen, 1 thread, idle 2-core EPYC of CPU family 26, 5 interleaved process pairs): 66.2 -> 4.5 ms per call
 *    (paired 14.5-15.4x); with W differentiated too, 1.00x and bit-identical. omni's quick run 22.6 -> 20.2 min (each
 *    sft-1 stage 162 -> 100 s), the tokenizer study's T2 arms 104-105 -> 87-103 s (two runs).
 *
 * Edits 1-14 keep results bit-identical (src/engine/jax-patch.test.ts compares a patched copy with an
 * unpatched one, every edit undone; the reference step's losses match to the last float32 bit); edit 15 where
 * it changes a kernel, as above.
 * Tried and not kept (same harness): unrolling k by 2 or 4 with constant load offsets instead of
 * a pointer add per step (matmul 0.7-0.8x: V8 hoists the unrolled loads and spills), micro-tiles
 * 4x3 and 3x3 (0.85-0.95x), the k-vectorised kernel at 2x4 / 4x2 / 2x2 (better for q·kᵀ before
 * edit 3, worse for g·Wᵀ), v128.load32_splat for broadcast reads (within noise). With edit 6: the
 * k-vectorised kernel at 2 × 4 again (p·v with v transposed 1.21x, q·kᵀ 1.02x, but g·Wᵀ 0.83x and
 * 0.91x), and the row operand's pointers of the k-vectorised kernel computed once per row of blocks
 * and copied into each block instead of recomputed from the index expression (0.98-0.99x on g·Wᵀ,
 * the rest within noise: the per-block address set-up is not where that kernel's time goes). With
 * edit 7: 2 × 4 once more (g·Wᵀ 0.84-0.89x) and an unroll of up to 8 (g·Wᵀ 0.94-0.96x).
 *
 *   node scripts/patch-jax.mjs            patch the @jax-js/jax that this package resolves
 *   node scripts/patch-jax.mjs --check    exit 1 unless it is patched
 *   node scripts/patch-jax.mjs --dir D    patch the jax-js package in directory D (tests)
 *
 * Any other jax-js version is left alone with a message (an upgrade must re-measure); a missing
 * jax-js (e.g. `npm install --omit=dev` in an odd layout) is not an error.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const JAX_VERSION = "0.1.25";
export const MARK = "/* tinyfoundry patch-jax:";
/**
 * Each edit replaces one exact text, which must occur once per backend file; the replacement
 * carries MARK, so a patched file is recognised and never patched twice.
 */
export const EDITS = [
  {
    name: "matmul micro-tile 2x4",
    find: "const TILED_SIMD_MICRO_ROWS = 4;",
    replace: `const TILED_SIMD_MICRO_ROWS = 2; ${MARK} 2x4 micro-tile: 8 f32x4 accumulators fit the x64 registers (was 4) */`,
  },
  {
    // Element-wise kernels with a division, exp or log (softmax, sigmoid/GELU, norms) ran scalar:
    // f32x4.div is the same IEEE division per lane, and exp/log call the same scalar function
    // per lane, so values are unchanged while loads, index math and the other arithmetic vectorise.
    name: "SIMD reciprocal, exp, log",
    find: '\t"Sqrt",\n\t"Cast",\n\t"Where",',
    replace: `\t"Sqrt",\n\t"Reciprocal", ${MARK} SIMD reciprocal, exp, log */\n\t"Exp",\n\t"Log",\n\t"Cast",\n\t"Where",`,
  },
  {
    name: "SIMD reciprocal, exp, log (codegen)",
    find: '\t\t} else if (op === "Sqrt") {\n\t\t\tgen(src[0]);\n\t\t\tcg.f32x4.sqrt();\n\t\t}',
    replace: [
      '\t\t} else if (op === "Sqrt") {',
      "\t\t\tgen(src[0]);",
      "\t\t\tcg.f32x4.sqrt();",
      `\t\t} else if (op === "Reciprocal") { ${MARK} SIMD reciprocal, exp, log (codegen) */`,
      "\t\t\tcg.f32.const(1);",
      "\t\t\tcg.f32x4.splat();",
      "\t\t\tgen(src[0]);",
      "\t\t\tcg.f32x4.div();",
      '\t\t} else if (op === "Exp" || op === "Log") {',
      "\t\t\tgen(src[0]);",
      "\t\t\tconst v = cg.local.declare(cg.f32x4);",
      "\t\t\tcg.local.tee(v);",
      "\t\t\tfor (let lane = 0; lane < 4; lane++) {",
      "\t\t\t\tcg.local.get(v);",
      "\t\t\t\tcg.f32x4.extract_lane(lane);",
      '\t\t\t\tcg.call(op === "Exp" ? funcs.exp : funcs.log);',
      "\t\t\t\tcg.f32x4.replace_lane(lane);",
      "\t\t\t}",
      "\t\t}",
    ].join("\n"),
  },
  {
    // Batched matmuls (attention's p·v, q·kᵀ and their gradients) index the shared operand with
    // the batch in the output index, e.g. V[(gidx / 4096) % 4, ..., gidx % 32]: jax-js's check that
    // the pointer repeats from one output row to the next (rewrite gidx -> gidx + tileSize and
    // compare) fails at batch boundaries, so every row of a micro-tile got its own pointer, its own
    // address arithmetic and its own loads of the same vector. Rows of one micro-tile block start at
    // a multiple of microRows * tileSize (the fast path's alignment guard), so a read whose index
    // uses gidx only as gidx / D with D a multiple of that span, or as gidx % D and (gidx / D) % M
    // within one row (tileSize a multiple of D, D * M), is the same for every row of the block.
    name: "row-block pointer sharing",
    find: "function pointerShareKey(candidate, row, vector, groupIndex) {\n\tconst hash = candidate.exp.getHash().toString();\n\tconst { stride } = candidate;\n\tif (stride.kind === \"broadcast\") return isFinite(stride.tileSize) ? `${hash}:row${row}` : `${hash}:all`;\n\tif (stride.kind === \"contiguous\" && isFinite(stride.tileSize)) return repeatsAcrossGidxTile(candidate.baseIndex, stride.tileSize) ?",
    replace: [
      `function rowBlockInvariant(exp, tileSize, rows) { ${MARK} row-block pointer sharing */`,
      "\tif (!isFinite(tileSize) || rows <= 1) return false;",
      "\tconst span = tileSize * rows;",
      '\tconst isGidx = (e) => isSymbol(e, "gidx");',
      "\tconst positive = (e) => {",
      "\t\tconst c = constInt(e);",
      "\t\treturn c !== null && c > 0 ? c : null;",
      "\t};",
      "\tconst invariant = (e) => {",
      "\t\tif (!referencesGidx(e)) return true;",
      '\t\tif (e.op === "Idiv" && isGidx(e.src[0]) && positive(e.src[1])) return positive(e.src[1]) % span === 0;',
      '\t\tif (e.op === "Mod" && isGidx(e.src[0]) && positive(e.src[1])) return tileSize % positive(e.src[1]) === 0;',
      '\t\tif (e.op === "Mod" && e.src[0].op === "Idiv" && isGidx(e.src[0].src[0]) && positive(e.src[0].src[1]) && positive(e.src[1])) {',
      "\t\t\tconst d = positive(e.src[0].src[1]);",
      "\t\t\treturn d % span === 0 || tileSize % (d * positive(e.src[1])) === 0;",
      "\t\t}",
      '\t\tif (e.op === "Add" || e.op === "Sub" || e.op === "Mul") return e.src.every(invariant);',
      "\t\treturn false;",
      "\t};",
      "\treturn invariant(exp);",
      "}",
      "function pointerShareKey(candidate, row, vector, groupIndex) {",
      "\tconst hash = candidate.exp.getHash().toString();",
      "\tconst { stride } = candidate;",
      "\tif (stride.kind === \"broadcast\") return isFinite(stride.tileSize) ? `${hash}:row${row}` : `${hash}:all`;",
      "\tif (stride.kind === \"contiguous\" && isFinite(stride.tileSize)) return candidate.rowBlockInvariant || repeatsAcrossGidxTile(candidate.baseIndex, stride.tileSize) ?",
    ].join("\n"),
  },
  {
    name: "row-block pointer sharing (K-vectorised)",
    find: "\tif (repeatsAcrossGidxTile(candidate.baseIndex, tileSize)) return `${hash}:col${col}`;",
    replace: `\tif (candidate.rowBlockInvariant || repeatsAcrossGidxTile(candidate.baseIndex, tileSize)) return \`\${hash}:col\${col}\`; ${MARK} row-block pointer sharing (K-vectorised) */`,
  },
  {
    name: "row-block pointer sharing (plans)",
    find: "\tconst kSimdTilePlan = reductionHasLaneGather && useKSimdReduction ? reductionKTilePlan(kernel, expStrides) : null;",
    replace: [
      "\tconst kSimdTilePlan = reductionHasLaneGather && useKSimdReduction ? reductionKTilePlan(kernel, expStrides) : null;",
      `\tif (simdTilePlan) for (const c of simdReductionPointerCandidates) c.rowBlockInvariant = rowBlockInvariant(c.baseIndex, simdTilePlan.tileSize, simdTilePlan.microRows); ${MARK} row-block pointer sharing (plans) */`,
      "\tif (kSimdTilePlan) for (const c of kSimdReductionPointerCandidates) c.rowBlockInvariant = rowBlockInvariant(c.baseIndex, kSimdTilePlan.tileSize, kSimdTilePlan.microRows);",
    ].join("\n"),
  },
  {
    // 4. SIMD exp: the lanes run jax-js's own scalar exp (round(x / ln 2), a degree-6 Taylor
    // polynomial of the remainder, scale by 2^k, +inf above k = 127 and 0 below k = -126) as f32x4 /
    // i32x4 operations, the same IEEE operations in the same order per lane, instead of four
    // extract-call-replace rounds through the scalar function (edit 2).
    name: "SIMD exp (function)",
    find: "function translateExpSimd(cg, funcs, exp, ctx, strideMap,",
    replace: [
      `function emitExpF32x4(cg) { ${MARK} SIMD exp (function) */`,
      "\tconst x = cg.local.declare(cg.f32x4);",
      "\tconst kf = cg.local.declare(cg.f32x4);",
      "\tconst k = cg.local.declare(cg.i32x4);",
      "\tconst r = cg.local.declare(cg.f32x4);",
      "\tconst value = cg.local.declare(cg.f32x4);",
      "\tconst splat = (c) => {",
      "\t\tcg.f32.const(c);",
      "\t\tcg.f32x4.splat();",
      "\t};",
      "\tconst kBeyond = (bound, above) => {",
      "\t\tcg.local.get(k);",
      "\t\tcg.i32.const(bound);",
      "\t\tcg.i32x4.splat();",
      "\t\tif (above) cg.i32x4.gt_s();",
      "\t\telse cg.i32x4.lt_s();",
      "\t};",
      "\tcg.local.tee(x);",
      "\tsplat(1 / Math.LN2);",
      "\tcg.f32x4.mul();",
      "\tcg.f32x4.nearest();",
      "\tcg.local.tee(kf);",
      "\tcg.i32x4.trunc_sat_f32x4_s();",
      "\tcg.local.set(k);",
      "\tcg.local.get(x);",
      "\tcg.local.get(kf);",
      "\tsplat(Math.LN2);",
      "\tcg.f32x4.mul();",
      "\tcg.f32x4.sub();",
      "\tcg.local.set(r);",
      "\tconst as = [1, 1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720];",
      "\tsplat(as[as.length - 1]);",
      "\tfor (let i = as.length - 2; i >= 0; i--) {",
      "\t\tcg.local.get(r);",
      "\t\tcg.f32x4.mul();",
      "\t\tsplat(as[i]);",
      "\t\tcg.f32x4.add();",
      "\t}",
      "\tcg.local.get(k);",
      "\tcg.i32.const(127);",
      "\tcg.i32x4.splat();",
      "\tcg.i32x4.add();",
      "\tcg.i32.const(23);",
      "\tcg.i32x4.shl();",
      "\tcg.f32x4.mul();",
      "\tcg.local.set(value);",
      "\tsplat(Infinity);",
      "\tcg.local.get(value);",
      "\tkBeyond(127, true);",
      "\tcg.v128.bitselect();",
      "\tcg.local.set(value);",
      "\tsplat(0);",
      "\tcg.local.get(value);",
      "\tkBeyond(-126, false);",
      "\tcg.v128.bitselect();",
      "}",
      "function translateExpSimd(cg, funcs, exp, ctx, strideMap,",
    ].join("\n"),
  },
  {
    name: "SIMD exp (codegen)",
    find: '\t\tif (op === "Add") {\n\t\t\tgen(src[0]), gen(src[1]);\n\t\t\tif (dtype === "bool") cg.v128.or();',
    replace: `\t\tif (op === "Exp" && dtype === "float32") { ${MARK} SIMD exp (codegen) */\n\t\t\tgen(src[0]);\n\t\t\temitExpF32x4(cg);\n\t\t} else if (op === "Add") {\n\t\t\tgen(src[0]), gen(src[1]);\n\t\t\tif (dtype === "bool") cg.v128.or();`,
  },
  {
    // 5. Row maxima and minima (softmax's max over the last axis) ran on the scalar path: the
    // k-vectorised kernel took only sums. Max and min are exact in any order (wasm's f32.max and
    // f32x4.max agree on NaN and on -0 < +0), so a lane-wise maximum then a maximum of the lanes
    // gives the scalar loop's value.
    name: "k-vectorised max/min (eligibility)",
    find: '\tif (re.op !== "Add") return false;',
    replace: `\tif (re.op !== "Add" && !((re.op === "Max" || re.op === "Min") && re.dtype === "float32")) return false; ${MARK} k-vectorised max/min (eligibility) */`,
  },
  {
    name: "k-vectorised max/min (accumulate)",
    find: "vecAccs[i])) cg.f32x4.add();",
    replace: `vecAccs[i])) ${MARK} k-vectorised max/min (accumulate) */\n\t\t\t\t\t\t\tif (re.op === "Max") cg.f32x4.max();\n\t\t\t\t\t\t\telse if (re.op === "Min") cg.f32x4.min();\n\t\t\t\t\t\t\telse cg.f32x4.add();`,
  },
  {
    name: "k-vectorised max/min (lanes)",
    find: "if (lane > 0) cg.f32.add();",
    replace: `if (lane > 0) ${MARK} k-vectorised max/min (lanes) */\n\t\t\t\t\t\tif (re.op === "Max") cg.f32.max();\n\t\t\t\t\t\telse if (re.op === "Min") cg.f32.min();\n\t\t\t\t\t\telse cg.f32.add();`,
  },
  {
    // 6. The k-vectorised kernel (A·Bᵀ: g·Wᵀ gradients, q·kᵀ) ended every block by summing each
    // output's four lanes with 3 extract-add pairs and storing one float at a time: 16 outputs
    // cost 16 address computations, 64 extracts and 48 scalar adds. A 4 × 4 transpose (8
    // i8x16.shuffle) puts lane j of four adjacent outputs' accumulators in one vector, so
    // ((c0 + c1) + c2) + c3 is each output's ((l0 + l1) + l2) + l3 in the same order (max/min
    // likewise); with a plain epilogue the four sums are stored as one vector.
    name: "k-vectorised lane sums by transpose",
    find: "\t\t\tfor (let i = 0; i < groups.length; i++) {\n\t\t\t\tconst acc = cg.local.declare(cg.f32);\n\t\t\t\tfor (let lane = 0; lane < 4; lane++) {\n\t\t\t\t\tcg.local.get(vecAccs[i]);",
    replace: [
      `\t\t\tlet transposed = 0; ${MARK} k-vectorised lane sums by transpose */`,
      "\t\t\tif (kSimdTilePlan.microCols === 4) for (; transposed + 4 <= groups.length; transposed += 4) {",
      "\t\t\t\tconst q = vecAccs.slice(transposed, transposed + 4);",
      "\t\t\t\tconst shuffle = (x, y, lanes) => {",
      "\t\t\t\t\tcg.local.get(x);",
      "\t\t\t\t\tcg.local.get(y);",
      "\t\t\t\t\tcg._pop();",
      "\t\t\t\t\tcg._pop();",
      "\t\t\t\t\tcg._emit(encodeOpcode([253, 13]));",
      "\t\t\t\t\tfor (const l of lanes) for (let b = 0; b < 4; b++) cg._emit(4 * l + b);",
      "\t\t\t\t\tcg._push(cg.f32x4);",
      "\t\t\t\t};",
      "\t\t\t\tconst combine = () => {",
      '\t\t\t\t\tif (re.op === "Max") cg.f32x4.max();',
      '\t\t\t\t\telse if (re.op === "Min") cg.f32x4.min();',
      "\t\t\t\t\telse cg.f32x4.add();",
      "\t\t\t\t};",
      "\t\t\t\tconst t = q.map(() => cg.local.declare(cg.f32x4));",
      "\t\t\t\tshuffle(q[0], q[1], [0, 4, 1, 5]);",
      "\t\t\t\tcg.local.set(t[0]);",
      "\t\t\t\tshuffle(q[0], q[1], [2, 6, 3, 7]);",
      "\t\t\t\tcg.local.set(t[1]);",
      "\t\t\t\tshuffle(q[2], q[3], [0, 4, 1, 5]);",
      "\t\t\t\tcg.local.set(t[2]);",
      "\t\t\t\tshuffle(q[2], q[3], [2, 6, 3, 7]);",
      "\t\t\t\tcg.local.set(t[3]);",
      "\t\t\t\tshuffle(t[0], t[2], [0, 1, 4, 5]);",
      "\t\t\t\tshuffle(t[0], t[2], [2, 3, 6, 7]);",
      "\t\t\t\tcombine();",
      "\t\t\t\tshuffle(t[1], t[3], [0, 1, 4, 5]);",
      "\t\t\t\tcombine();",
      "\t\t\t\tshuffle(t[1], t[3], [2, 3, 6, 7]);",
      "\t\t\t\tcombine();",
      "\t\t\t\tconst sums = cg.local.declare(cg.f32x4);",
      "\t\t\t\tcg.local.set(sums);",
      '\t\t\t\tif (hasIdentityEpilogue && kernel.dtype === "float32") {',
      "\t\t\t\t\temitOutputAddress(groups[transposed].gidx);",
      "\t\t\t\t\tcg.local.get(sums);",
      "\t\t\t\t\tcg.v128.store(4);",
      "\t\t\t\t} else for (let j = 0; j < 4; j++) {",
      "\t\t\t\t\tconst acc = cg.local.declare(cg.f32);",
      "\t\t\t\t\tcg.local.get(sums);",
      "\t\t\t\t\tcg.f32x4.extract_lane(j);",
      "\t\t\t\t\tcg.local.set(acc);",
      "\t\t\t\t\temitOutputAddress(groups[transposed + j].gidx);",
      "\t\t\t\t\ttranslateExp(cg, funcs, tune.epilogue, {",
      "\t\t\t\t\t\tacc,",
      "\t\t\t\t\t\tgidx: groups[transposed + j].gidx",
      "\t\t\t\t\t});",
      "\t\t\t\t\tdty(cg, null, kernel.dtype).store(Math.log2(byteWidth(kernel.dtype)));",
      "\t\t\t\t}",
      "\t\t\t}",
      "\t\t\tfor (let i = transposed; i < groups.length; i++) {",
      "\t\t\t\tconst acc = cg.local.declare(cg.f32);",
      "\t\t\t\tfor (let lane = 0; lane < 4; lane++) {",
      "\t\t\t\t\tcg.local.get(vecAccs[i]);",
    ].join("\n"),
  },
  {
    // 7. The k-vectorised kernel's k loop is unrolled kUnroll times and added 16 bytes to every
    // operand pointer after each unrolled step; the unrolled steps now read at constant offsets
    // (0, 16, 32, 48) and the pointers advance once per iteration.
    name: "k-vectorised unroll by load offsets (load)",
    find: '\t\t\t\t\tcg.local.get(pointer.ptr);\n\t\t\t\t\tif (stride.kind === "contiguous") if (isInt) cg.i32x4.load(4);\n\t\t\t\t\telse cg.f32x4.load(4);',
    replace: `\t\t\t\t\tcg.local.get(pointer.ptr); ${MARK} k-vectorised unroll by load offsets (load) */\n\t\t\t\t\tif (stride.kind === "contiguous") if (isInt) cg.i32x4.load(4, pointer.loadOffset ?? 0);\n\t\t\t\t\telse cg.f32x4.load(4, pointer.loadOffset ?? 0);`,
  },
  {
    name: "k-vectorised unroll by load offsets (offsets)",
    find: "\t\t\t\tfor (let u = 0; u < kSimdTilePlan.kUnroll; u++) {\n",
    replace: `\t\t\t\tfor (let u = 0; u < kSimdTilePlan.kUnroll; u++) {\n\t\t\t\t\tfor (const p of uniquePointers) p.loadOffset = u * 4 * p.strideBytes; ${MARK} k-vectorised unroll by load offsets (offsets) */\n`,
  },
  {
    name: "k-vectorised unroll by load offsets (advance)",
    find: "\t\t\t\t\tincrementReductionPointers(cg, uniquePointers, 4);\n\t\t\t\t}\n\t\t\t\tbumpLocal(ridx, 4 * kSimdTilePlan.kUnroll);",
    replace: `\t\t\t\t}\n\t\t\t\tfor (const p of uniquePointers) p.loadOffset = 0; ${MARK} k-vectorised unroll by load offsets (advance) */\n\t\t\t\tincrementReductionPointers(cg, uniquePointers, 4 * kSimdTilePlan.kUnroll);\n\t\t\t\tbumpLocal(ridx, 4 * kSimdTilePlan.kUnroll);`,
  },  {
    // 8. The wasm allocator keeps one free list per size class and above 64 KiB every page count is
    // its own class, so a block freed at one large size was never reused at another, and a long
    // process with many shapes (evaluation, then PPO) grew to the 4 GiB memory32 limit. On a miss,
    // a large request now takes the smallest free block of up to twice its class; the block keeps
    // its own class, so freeing it returns it to that list. Memory only: no result changes.
    name: "allocator reuses larger free blocks",
    find: "\t\tif (freeList && freeList.length > 0) ptr = freeList.pop();\n\t\telse ptr = this.#bumpAlloc(sizeClass);\n\t\tthis.#allocatedBuffers.set(ptr, sizeClass);",
    replace: [
      `\t\tlet cls = sizeClass; ${MARK} allocator reuses larger free blocks */`,
      "\t\tif (freeList && freeList.length > 0) ptr = freeList.pop();",
      "\t\telse {",
      "\t\t\tlet best = 0;",
      "\t\t\tif (sizeClass > 65536) for (const [c, l] of this.#freeLists) if (l.length > 0 && c > sizeClass && c <= 2 * sizeClass && (best === 0 || c < best)) best = c;",
      "\t\t\tif (best) {",
      "\t\t\t\tcls = best;",
      "\t\t\t\tptr = this.#freeLists.get(best).pop();",
      "\t\t\t} else ptr = this.#bumpAlloc(sizeClass);",
      "\t\t}",
      "\t\tthis.#allocatedBuffers.set(ptr, cls);",
    ].join("\n"),
  },
  {
    // 9. Buffers get memory when a kernel first uses them, and a freed buffer's memory is reused at
    // once. A jit program's mallocs all ran when it was called, before any kernel was dispatched, so
    // nothing freed inside a step was reused within it; and with the worker pool a dispatched
    // kernel kept its buffers until it finished, so a step's buffers all lived together. The pool
    // runs kernels one after another in dispatch order, so memory freed after a dispatch can go to
    // the next kernel; only the main thread's own writes (initial data, a synchronous kernel or
    // routine) wait for a block whose last kernel has finished. Memory only: no value changes.
    name: "lazy buffer placement (pool epoch)",
    find: "\tget epoch() {\n\t\treturn this.#epoch;\n\t}",
    replace: `\tget epochEnd() { ${MARK} lazy buffer placement (pool epoch) */\n\t\treturn this.#epochEnd;\n\t}\n\tget epoch() {\n\t\treturn this.#epoch;\n\t}`,
  },
  {
    name: "lazy buffer placement (malloc)",
    find: "\tmalloc(size, initialData) {\n\t\tconst ptr = this.#allocator.malloc(size);\n\t\tif (initialData) {\n\t\t\tif (initialData.byteLength !== size) throw new Error(\"initialData size does not match buffer size\");\n\t\t\tnew Uint8Array(this.#memory.buffer, ptr, size).set(initialData);\n\t\t}\n\t\tconst slot = this.#nextSlot++;\n\t\tthis.#buffers.set(slot, {\n\t\t\tptr,\n\t\t\tsize,\n\t\t\tref: 1\n\t\t});\n\t\treturn slot;\n\t}",
    replace: [
      `\t#freedAt = new Map(); ${MARK} lazy buffer placement (malloc) */`,
      "\t#place(buffer, mainThread) {",
      "\t\tif (buffer.ptr !== void 0) return buffer.ptr;",
      "\t\tconst pool = this.#workerPool;",
      "\t\tlet ptr = this.#allocator.malloc(buffer.size);",
      "\t\tif (mainThread && pool) {",
      "\t\t\tconst held = [];",
      "\t\t\twhile (this.#freedAt.get(ptr) > pool.epoch) {",
      "\t\t\t\theld.push(ptr);",
      "\t\t\t\tptr = this.#allocator.malloc(buffer.size);",
      "\t\t\t}",
      "\t\t\tfor (const p of held) this.#allocator.free(p);",
      "\t\t}",
      "\t\tthis.#freedAt.delete(ptr);",
      "\t\tbuffer.ptr = ptr;",
      "\t\treturn ptr;",
      "\t}",
      "\tmalloc(size, initialData) {",
      "\t\tconst buffer = {",
      "\t\t\tptr: void 0,",
      "\t\t\tsize,",
      "\t\t\tref: 1",
      "\t\t};",
      "\t\tif (initialData) {",
      '\t\t\tif (initialData.byteLength !== size) throw new Error("initialData size does not match buffer size");',
      "\t\t\tconst ptr = this.#place(buffer, true);",
      "\t\t\tnew Uint8Array(this.#memory.buffer, ptr, size).set(initialData);",
      "\t\t}",
      "\t\tconst slot = this.#nextSlot++;",
      "\t\tthis.#buffers.set(slot, buffer);",
      "\t\treturn slot;",
      "\t}",
    ].join("\n"),
  },
  {
    name: "lazy buffer placement (free)",
    find: "\t\t\tthis.#allocator.free(buffer.ptr);\n",
    replace: `\t\t\tif (buffer.ptr !== void 0) { ${MARK} lazy buffer placement (free) */\n\t\t\t\tthis.#allocator.free(buffer.ptr);\n\t\t\t\tif (this.#workerPool && buffer.ptr !== 0) this.#freedAt.set(buffer.ptr, this.#workerPool.epochEnd);\n\t\t\t}\n`,
  },
  {
    // A synchronous routine views its inputs before its outputs: placing an output may grow (and,
    // unshared, detach) the memory under views already made, so every buffer is placed first.
    name: "lazy buffer placement (synchronous routine)",
    find: "\t\t\trunCpuRoutine(exe.source, inputs.map((slot) => this.#getBuffer(slot)), outputs.map((slot) => this.#getBuffer(slot)));",
    replace: `\t\t\tfor (const slot of [...inputs, ...outputs]) this.#place(this.#buffers.get(slot), true); ${MARK} lazy buffer placement (synchronous routine) */\n\t\t\trunCpuRoutine(exe.source, inputs.map((slot) => this.#getBuffer(slot)), outputs.map((slot) => this.#getBuffer(slot)));`,
  },
  {
    name: "lazy buffer placement (main-thread access)",
    find: "\t\treturn new Uint8Array(this.#memory.buffer, buffer.ptr, buffer.size);",
    replace: `\t\tconst ptr = this.#place(buffer, true); ${MARK} lazy buffer placement (main-thread access) */\n\t\treturn new Uint8Array(this.#memory.buffer, ptr, buffer.size);`,
  },
  {
    name: "lazy buffer placement (routine dispatch)",
    find: "\t\t\tconst retainedSlots = [...inputs, ...outputs];\n\t\t\tfor (const slot of retainedSlots) this.incRef(slot);\n\t\t\tconst epoch = this.#workerPool.dispatchRoutine(",
    replace: `\t\t\tconst retainedSlots = []; ${MARK} lazy buffer placement (routine dispatch) */\n\t\t\tfor (const slot of [...inputs, ...outputs]) this.#place(this.#buffers.get(slot), false);\n\t\t\tconst epoch = this.#workerPool.dispatchRoutine(`,
  },
  {
    name: "lazy buffer placement (kernel dispatch)",
    find: "\t\t\tconst ptrs = [...inputs, ...outputs].map((slot) => this.#buffers.get(slot).ptr);\n\t\t\tif (this.#workerPool && !sync) {\n\t\t\t\tconst retainedSlots = [...inputs, ...outputs];\n\t\t\t\tfor (const slot of retainedSlots) this.incRef(slot);",
    replace: `\t\t\tconst viaPool = Boolean(this.#workerPool && !sync); ${MARK} lazy buffer placement (kernel dispatch) */\n\t\t\tconst ptrs = [...inputs, ...outputs].map((slot) => this.#place(this.#buffers.get(slot), !viaPool));\n\t\t\tif (this.#workerPool && !sync) {\n\t\t\t\tconst retainedSlots = [];`,
  },
  {
    // 10. jit's graph splitting gave a kernel of its own (a copy) to any value that feeds two or more
    // kernels. For a reshape of a computed value that copy has the very bytes of its input (a
    // reshape keeps the row-major order), e.g. the MLP's hidden layer and attention's
    // probabilities each reshaped for a contraction's forward and its gradient. Such a reshape
    // now stays a view read by each kernel, and the value it reshapes is materialised instead.
    name: "no copy for a shared reshape",
    file: "index",
    find: "\t\tif (reach.size > 1) for (const v of eqn.outBinders) {\n\t\t\tblackNodes.add(v);\n\t\t\tp1NextBlack.set(v, v);\n\t\t}",
    replace: [
      `\t\tconst reshapeOf = (e) => { ${MARK} no copy for a shared reshape */`,
      '\t\t\tif (e.primitive !== "reshape" || !(e.inputs[0] instanceof Var)) return null;',
      "\t\t\tconst d = varToDefn.get(e.inputs[0]);",
      "\t\t\tif (d === void 0 || !viewPrimitives.includes(jaxpr.eqns[d].primitive)) return e.inputs[0];",
      "\t\t\treturn reshapeOf(jaxpr.eqns[d]);",
      "\t\t};",
      // A routine (scatter, sort, ...) or a concatenate/pad needs its input materialised: a reshape
      // feeding one keeps jax-js's own path.
      "\t\tconst feedsMaterialising = eqn.outBinders.some((v) => (varToUsages.get(v) ?? []).some((j) => routinePrimitives.has(jaxpr.eqns[j].primitive) || needsCleanShapePrimitives.includes(jaxpr.eqns[j].primitive)));",
      "\t\tconst reshaped = reach.size > 1 && !feedsMaterialising ? reshapeOf(eqn) : null;",
      "\t\tif (reshaped) markNonViewProducer(reshaped);",
      "\t\telse if (reach.size > 1) for (const v of eqn.outBinders) {",
      "\t\t\tblackNodes.add(v);",
      "\t\t\tp1NextBlack.set(v, v);",
      "\t\t}",
    ].join("\n"),
  },
  {
    // 11. Without a worker pool (one thread) every dispatch instantiated its kernel's module again;
    // the instance is now kept per compiled program, as the pool's workers already do.
    name: "one instance per kernel on the main thread",
    find: "\t\t\t\tconst func = new WebAssembly.Instance(program.module, { env: { memory: this.#memory } }).exports.kernel;",
    replace: [
      `\t\t\t\tlet func = this.#instances.get(program); ${MARK} one instance per kernel on the main thread */`,
      "\t\t\t\tif (func === void 0) {",
      "\t\t\t\t\tfunc = new WebAssembly.Instance(program.module, { env: { memory: this.#memory } }).exports.kernel;",
      "\t\t\t\t\tthis.#instances.set(program, func);",
      "\t\t\t\t}",
    ].join("\n"),
  },
  {
    name: "one instance per kernel on the main thread (map)",
    find: "\t#pendingWork = /* @__PURE__ */ new Map();\n\tconstructor() {\n\t\tthis.#memory = hasSharedArrayBuffer()",
    replace: `\t#pendingWork = /* @__PURE__ */ new Map();\n\t#instances = new Map(); ${MARK} one instance per kernel on the main thread (map) */\n\tconstructor() {\n\t\tthis.#memory = hasSharedArrayBuffer()`,
  },
  {
    // 12. With a worker pool, a kernel with little work runs on the main thread, in its place in the pool's queue.
    name: "small kernels on the main thread (work)",
    find: "\t\tminWorkPerWorker: tiledPlan && kernel.size / tiledPlan.tileSize >= 1024 ? tiledPlan.tileSize * 32 : void 0\n\t};",
    replace: `\t\tminWorkPerWorker: tiledPlan && kernel.size / tiledPlan.tileSize >= 1024 ? tiledPlan.tileSize * 32 : void 0,\n\t\twork: kernel.size * (re ? re.size : 1) ${MARK} small kernels on the main thread (work) */\n\t};`,
  },
  {
    name: "small kernels on the main thread (dispatch)",
    find: "program.workSize, program.chunkAlignment, program.minWorkPerWorker);",
    replace: `program.workSize, program.chunkAlignment, program.minWorkPerWorker, program.work); ${MARK} small kernels on the main thread (dispatch) */`,
  },
  {
    name: "small kernels on the main thread (pool)",
    find: "\tdispatch(kernelHash, module, ptrs, size, chunkAlignment = 16, minWorkPerWorker = MIN_ELEMS_PER_THREAD) {\n\t\treturn this.#enqueue(() => this.#dispatchNow(kernelHash, module, ptrs, size, chunkAlignment, minWorkPerWorker));\n\t}",
    replace: [
      `\t#mainThread = new Map(); ${MARK} small kernels on the main thread (pool) */`,
      "\tdispatch(kernelHash, module, ptrs, size, chunkAlignment = 16, minWorkPerWorker = MIN_ELEMS_PER_THREAD, work = Infinity) {",
      "\t\tif (work <= MAIN_THREAD_MAX_WORK) return this.#enqueue(() => {",
      "\t\t\tlet func = this.#mainThread.get(kernelHash);",
      "\t\t\tif (func === void 0) {",
      "\t\t\t\tfunc = new WebAssembly.Instance(module, { env: { memory: this.#memory } }).exports.kernel;",
      "\t\t\t\tthis.#mainThread.set(kernelHash, func);",
      "\t\t\t}",
      "\t\t\tfunc(...ptrs, 0, size);",
      "\t\t});",
      "\t\treturn this.#enqueue(() => this.#dispatchNow(kernelHash, module, ptrs, size, chunkAlignment, minWorkPerWorker));",
      "\t}",
    ].join("\n"),
  },
  {
    name: "small kernels on the main thread (threshold)",
    find: "const MIN_ELEMS_PER_THREAD = 512;",
    replace: `const MIN_ELEMS_PER_THREAD = 512;\nconst MAIN_THREAD_MAX_WORK = 65536; ${MARK} small kernels on the main thread (threshold) */`,
  },
  {
    // 13. A jit program dispatches the same Kernel objects at every call; each dispatch hashed the kernel's whole
    // expression to find its compiled program. The prepared executable is now kept per Kernel object.
    name: "prepared kernel per Kernel object",
    find: "\tasync prepareKernel(kernel) {\n\t\tconst kernelHash = FpHash.hash(kernel).toString();\n\t\treturn new Executable(kernel, {\n\t\t\tprogram: await runWithCacheAsync(",
    replace: [
      `\t#prepared = new WeakMap(); ${MARK} prepared kernel per Kernel object */`,
      "\t#preparedSync = new WeakMap();",
      "\tasync prepareKernel(kernel) {",
      "\t\tlet exe = this.#prepared.get(kernel);",
      "\t\tif (exe === void 0) this.#prepared.set(kernel, (exe = await this.#prepareKernelNew(kernel)));",
      "\t\treturn exe;",
      "\t}",
      "\tprepareKernelSync(kernel) {",
      "\t\tlet exe = this.#preparedSync.get(kernel);",
      "\t\tif (exe === void 0) this.#preparedSync.set(kernel, (exe = this.#prepareKernelSyncNew(kernel)));",
      "\t\treturn exe;",
      "\t}",
      "\tasync #prepareKernelNew(kernel) {",
      "\t\tconst kernelHash = FpHash.hash(kernel).toString();",
      "\t\treturn new Executable(kernel, {",
      "\t\t\tprogram: await runWithCacheAsync(",
    ].join("\n"),
  },
  {
    name: "prepared kernel per Kernel object (sync)",
    find: "\tprepareKernelSync(kernel) {\n\t\tconst kernelHash = FpHash.hash(kernel).toString();\n\t\treturn new Executable(kernel, {\n\t\t\tprogram: runWithCache(",
    replace: `\t#prepareKernelSyncNew(kernel) { ${MARK} prepared kernel per Kernel object (sync) */\n\t\tconst kernelHash = FpHash.hash(kernel).toString();\n\t\treturn new Executable(kernel, {\n\t\t\tprogram: runWithCache(`,
  },
  {
    // A jit call's outputs share one set of pending executes instead of a copy each (edit 14).
    name: "shared pending set (field)",
    file: "index",
    find: "\t#pendingSet;\n\t/**\n\t* @ignore",
    replace: `\t#pendingSet;\n\t#pendingShared = false; ${MARK} shared pending set (field) */\n\t/**\n\t* @ignore`,
  },
  {
    name: "shared pending set (constructor)",
    file: "index",
    find: "\t\tthis.#pendingSet = new Set(args.pending);\n\t\tif (this.#pendingSet.size === 0) this.#pendingSet = null;",
    replace: [
      `\t\tthis.#pendingShared = args.pendingShared !== void 0; ${MARK} shared pending set (constructor) */`,
      "\t\tthis.#pendingSet = this.#pendingShared ? args.pendingShared : new Set(args.pending);",
      "\t\tif (this.#pendingSet.size === 0) {",
      "\t\t\tthis.#pendingSet = null;",
      "\t\t\tthis.#pendingShared = false;",
      "\t\t}",
    ].join("\n"),
  },
  {
    name: "shared pending set (copy before adding)",
    file: "index",
    find: "\t\t\tthis.#pendingSet ??= /* @__PURE__ */ new Set();\n\t\t\tthis.#pendingSet.add(pendingItem);",
    replace: [
      `\t\t\tif (!this.#pendingSet) this.#pendingSet = /* @__PURE__ */ new Set(); ${MARK} shared pending set (copy before adding) */`,
      "\t\t\telse if (this.#pendingShared) this.#pendingSet = new Set(this.#pendingSet);",
      "\t\t\tthis.#pendingShared = false;",
      "\t\t\tthis.#pendingSet.add(pendingItem);",
    ].join("\n"),
  },
  {
    name: "shared pending set (jit outputs)",
    file: "index",
    find: "\t\t\t\targs.forEach((x) => x.dispose());\n\t\t\t\treturn outputs.map((source, i) => {",
    replace: `\t\t\t\targs.forEach((x) => x.dispose());\n\t\t\t\tconst pendingShared = new Set(pending); ${MARK} shared pending set (jit outputs) */\n\t\t\t\treturn outputs.map((source, i) => {`,
  },
  {
    name: "shared pending set (jit output arrays)",
    file: "index",
    find: "\t\t\t\t\t\tcommitted,\n\t\t\t\t\t\tpending\n\t\t\t\t\t});",
    replace: `\t\t\t\t\t\tcommitted,\n\t\t\t\t\t\tpendingShared ${MARK} shared pending set (jit output arrays) */\n\t\t\t\t\t});`,
  },
  {
    // 15. A contraction's input that reaches its producer through a broadcast view is materialised (the
    // producer is otherwise recomputed for every broadcast copy, inside the matmul's slow scalar path).
    name: "materialise a contraction input under a broadcast",
    file: "index",
    find: "\t\tfor (const [i, input] of eqn.inputs.entries()) if (input instanceof Var && reductionInputHasReuse(inputShapes[i], promoted)) markNonViewProducer(input);",
    replace: [
      `\t\tconst broadcastUnder = (v) => { ${MARK} materialise a contraction input under a broadcast */`,
      "\t\t\tfor (let d = varToDefn.get(v); d !== void 0; ) {",
      "\t\t\t\tconst e = jaxpr.eqns[d];",
      "\t\t\t\tif (!viewPrimitives.includes(e.primitive)) return false;",
      '\t\t\t\tif (e.primitive === "broadcast") return true;',
      "\t\t\t\tconst next = e.inputs.find((x) => x instanceof Var);",
      "\t\t\t\tif (!next) return false;",
      "\t\t\t\td = varToDefn.get(next);",
      "\t\t\t}",
      "\t\t\treturn false;",
      "\t\t};",
      "\t\tfor (const [i, input] of eqn.inputs.entries()) if (input instanceof Var && (reductionInputHasReuse(inputShapes[i], promoted) || broadcastUnder(input))) markNonViewProducer(input);",
    ].join("\n"),
  },
];

/**
 * The files of jax-js's dist/ each edit applies to (its ESM and CommonJS builds): the wasm backend
 * (backend-*.js, the default) or the frontend with jit's graph splitting (index.js, `file: "index"`).
 */
export const TARGETS = { backend: /^backend-.*\.c?js$/, index: /^index\.c?js$/ };
/** The edits that apply to the dist/ file named `f`. */
export function editsFor(f) {
  return EDITS.filter((e) => TARGETS[e.file ?? "backend"].test(f));
}

function jaxDir(args) {
  const i = args.indexOf("--dir");
  if (i >= 0) return args[i + 1];
  const here = dirname(fileURLToPath(import.meta.url));
  try {
    // The package's main entry is dist/index.cjs or dist/index.js: its folder's parent is the package.
    return dirname(dirname(createRequire(join(here, "..", "package.json")).resolve("@jax-js/jax")));
  } catch {
    return null;
  }
}

/** Patch the package in `dir`; returns a one-line report. Throws if an expected line is missing. */
export function patchJax(dir, { check = false } = {}) {
  const version = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
  if (version !== JAX_VERSION) return { ok: !check, line: `patch-jax: @jax-js/jax ${version} is not ${JAX_VERSION}; left unpatched (re-measure before porting the patch)` };
  const files = readdirSync(join(dir, "dist")).filter((f) => editsFor(f).length > 0);
  if (!files.some((f) => f.startsWith("backend-"))) throw new Error(`patch-jax: no dist/backend-*.js in ${dir}`);
  let changed = 0;
  let already = 0;
  for (const f of files) {
    const path = join(dir, "dist", f);
    let text = readFileSync(path, "utf8");
    for (const { name, find, replace } of editsFor(f)) {
      if (text.includes(replace)) {
        already++;
        continue;
      }
      const n = text.split(find).length - 1;
      if (n !== 1) throw new Error(`patch-jax: expected one match for "${name}" in ${f}, found ${n}`);
      if (check) return { ok: false, line: `patch-jax: ${f} is not patched (${name})` };
      text = text.replace(find, () => replace);
      changed++;
    }
    if (!check) writeFileSync(path, text);
  }
  return { ok: true, line: changed ? `patch-jax: patched @jax-js/jax ${version} (${changed} edits in ${files.length} files)` : `patch-jax: @jax-js/jax ${version} already patched (${already} edits)` };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const dir = jaxDir(args);
  if (!dir) {
    console.log("patch-jax: @jax-js/jax not found; nothing to patch");
  } else {
    const r = patchJax(dir, { check: args.includes("--check") });
    console.log(r.line);
    if (!r.ok) process.exit(1);
  }
}
