// gemm_tile.cl: the register-tiled GEMM's tunables and vector types, shared by the kernels
// built on that tile (conv_implicit_gemm.cl, the batched GEMM of conv_winograd_f4x3.cl). No
// kernels: the host pastes this file in place of `#include "gemm_tile.cl"`. The including file
// says what TM, TN, TK, WPT_M, WPT_N and VW mean for it; the defaults are the GPU ones, and
// KernelTunables.swift sets every one with -D.
//   RTM, RTN  work-items along the tile's rows and columns; WG = RTM·RTN per work-group
//   NV        vectors of VW columns per register-tile row
//   AK        chunk width of a row-major left operand's staging
//   floatVW, intVW, VLOAD_VW, VSTORE_VW  the VW-wide vector type and its loads and stores

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

#endif
