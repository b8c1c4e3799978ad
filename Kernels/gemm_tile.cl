// gemm_tile.cl: the register-tiled GEMM's tunables, vector types and k step, shared by the kernels
// built on that tile (conv_implicit_gemm.cl, the batched GEMMs of conv_winograd_f4x3.cl and
// conv_winograd_filter.cl). No
// kernels: the host pastes this file in place of `#include "gemm_tile.cl"`. The including file
// says what TM, TN, TK, WPT_M, WPT_N and VW mean for it; the defaults are the GPU ones, and
// KernelTunables.swift sets every one with -D.
//   RTM, RTN  work-items along the tile's rows and columns; WG = RTM·RTN per work-group
//   NV        vectors of VW columns per register-tile row
//   AK        chunk width of a row-major left operand's staging
//   floatVW, intVW, VLOAD_VW, VSTORE_VW  the VW-wide vector type and its loads and stores
//   TILE_COL, ACCUMULATE_TILE  a register-tile vector's column; one staged k step's FMAs

#ifndef GEMM_TILE_CL
#define GEMM_TILE_CL

#ifndef TM
#define TM 64
#endif
#ifndef TN
#define TN 64
#endif
#ifndef TK
#define TK 16
#endif
#ifndef WPT_M
#define WPT_M 4
#endif
#ifndef WPT_N
#define WPT_N 4
#endif
#ifndef VW
#define VW 4
#endif

#define RTM (TM / WPT_M)
#define RTN (TN / WPT_N)
#define WG (RTM * RTN)
#define NV (WPT_N / VW)
// Chunk width of a row-major left operand's staging: VW where a row of TK holds whole
// vectors, else single elements.
#if TK % VW == 0
#define AK VW
#else
#define AK 1
#endif

#if TM % WPT_M != 0 || TN % WPT_N != 0 || WPT_N % VW != 0
#error "TM and TN must be multiples of WPT_M and WPT_N, and WPT_N a multiple of VW"
#endif

#if VW == 1
typedef float floatVW;
typedef int intVW;
#define VLOAD_VW(p) (*(p))
#define VSTORE_VW(v, p) (*(p) = (v))
#elif VW == 2
typedef float2 floatVW;
typedef int2 intVW;
#define VLOAD_VW(p) vload2(0, p)
#define VSTORE_VW(v, p) vstore2(v, 0, p)
#elif VW == 4
typedef float4 floatVW;
typedef int4 intVW;
#define VLOAD_VW(p) vload4(0, p)
#define VSTORE_VW(v, p) vstore4(v, 0, p)
#elif VW == 8
typedef float8 floatVW;
typedef int8 intVW;
#define VLOAD_VW(p) vload8(0, p)
#define VSTORE_VW(v, p) vstore8(v, 0, p)
#elif VW == 16
typedef float16 floatVW;
typedef int16 intVW;
#define VLOAD_VW(p) vload16(0, p)
#define VSTORE_VW(v, p) vstore16(v, 0, p)
#else
#error "VW must be 1, 2, 4, 8 or 16"
#endif

// Column (within the tile) of the register tile's vector jv, element v: (jv·RTN + tx)·VW + v.
#define TILE_COL(tx, jv) (((jv) * RTN + (tx)) * VW)

// The multiply-accumulate of one staged k step, shared by every kernel built on this tile: per
// k, NV vector loads of the B row and WPT_M broadcasts of the A column feed WPT_M·NV vector
// FMAs, the register tile fully unrolled so that it stays in registers. The k loop starts at lid >> 20,
// which is always 0 (no work-group has 2^20 work-items) but depends on the work-item: a loop
// PoCL sees as uniform gets an implicit barrier inside it (to vectorize across work-items),
// which moves the register tile to memory at every k (measured on PoCL 3.1: 10 GFLOP/s
// instead of 19 on ResNet's 3×3 64→64 layer under the same load, conv_implicit_gemm.cl). GPUs
// compile it unchanged.
// A_AT(kk, row) names the staged left operand's element: the left operand is only ever
// broadcast, so its __local layout is free, and each kernel keeps the one its global layout
// stages cheaply (A_KMAJOR: As[TK][TM]; A_MMAJOR: At[TM][TK], rows copied as vectors).
#define A_KMAJOR(kk, row) As[kk][row]
#define A_MMAJOR(kk, row) At[row][kk]
#define ACCUMULATE_TILE(A_AT, Bs, acc, tx, ty)                                      \
    for (int kk = (int)(lid >> 20); kk < TK; kk++) {                                \
        floatVW b_reg[NV];                                                          \
        _Pragma("unroll")                                                           \
        for (int jv = 0; jv < NV; jv++) b_reg[jv] = VLOAD_VW(&Bs[kk][TILE_COL(tx, jv)]); \
        _Pragma("unroll")                                                           \
        for (int i = 0; i < WPT_M; i++) {                                           \
            const floatVW a = (floatVW)(A_AT(kk, ty + i * RTM));                    \
            _Pragma("unroll")                                                       \
            for (int jv = 0; jv < NV; jv++) acc[i][jv] = fma(a, b_reg[jv], acc[i][jv]); \
        }                                                                           \
    }

#endif
