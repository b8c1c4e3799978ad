// conv_winograd_f2x3.cl: the transforms of Winograd's minimal filtering F(2×2, 3×3) for 3×3,
// stride-1, dilation-1, single-group convolution (Lavin & Gray, 2015). Each 2×2 output tile
// is Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A over a 4×4 input patch d, so the 16 element-wise products,
// summed over input channels, become 16 independent GEMMs (run by CLBlast between these
// kernels, see Backends/OpenCL/Solvers/WinogradF2x3Solver.swift):
//   U[ξ][k][c] = (G g_kc Gᵀ)[ξ]                 weights, [16, K, C]
//   V[ξ][c][p] = (Bᵀ d_cp B)[ξ]                 input patches, [16, C, P], P = N·TH·TW tiles
//   M[ξ][k][p] = Σ_c U[ξ][k][c] · V[ξ][c][p]    (GEMM per ξ)
//   y[n][k][2·th + i][2·tw + j] = (Aᵀ M_kp A)[i][j] + bias[k], then the activation
// Layout: x [N, C, H, W], y [N, K, OH, OW], w [K, C, 3, 3]; U, V, M share one workspace
// (V and M at element offsets v_offset, m_offset); tile p = (n·TH + th)·TW + tw with
// TH = ceil(OH/2), TW = ceil(OW/2); ξ = 4·row + column of the 4×4 transform domain.
// Backward data is the same convolution of dy with the weights flipped and transposed
// (winograd_weight_transform's `flip`) and padding 2 − pad.
//
// Work-items: one per (tile, channel), with the tile index along dimension 0, so consecutive
// work-items write consecutive p of V and read consecutive p of M (coalesced); a work-item
// reads a 4×4 patch of x, which neighbouring tiles overlap, through the cache.
// No tunable parameters (the GEMMs are CLBlast's, tuned per device by CLBlast).

#include "activation_function.cl"

// U = G g Gᵀ with G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]. Without flip, g = w[k][c]; with flip
// (backward data: the convolution from dy's K channels to dx's C channels), the k-th output
// (a dx channel) and c-th input (a dy channel) use g[r][s] = w[c][k][2 − r][2 − s].
// Range [C_in·K_out] where K_out, C_in are the GEMM's sizes: index = k·C_in + c.
__kernel void winograd_weight_transform(const int k_out, const int c_in, const int flip,
                                        __global const float* w, __global float* u) {
    const int i = get_global_id(0);
    if (i >= k_out * c_in) return;
    const int k = i / c_in, c = i - (i / c_in) * c_in;
    float g[3][3];
    for (int r = 0; r < 3; r++)
        for (int s = 0; s < 3; s++)
            g[r][s] = flip ? w[((c * k_out + k) * 3 + 2 - r) * 3 + 2 - s] : w[((k * c_in + c) * 3 + r) * 3 + s];
    float t[4][3];  // G g
    for (int s = 0; s < 3; s++) {
        t[0][s] = g[0][s];
        t[1][s] = 0.5f * (g[0][s] + g[1][s] + g[2][s]);
        t[2][s] = 0.5f * (g[0][s] - g[1][s] + g[2][s]);
        t[3][s] = g[2][s];
    }
    const int plane = k_out * c_in;
    for (int r = 0; r < 4; r++) {
        u[(r * 4 + 0) * plane + i] = t[r][0];
        u[(r * 4 + 1) * plane + i] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
        u[(r * 4 + 2) * plane + i] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
        u[(r * 4 + 3) * plane + i] = t[r][2];
    }
}

// V = Bᵀ d B with Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]; d is the 4×4 patch at
// (2·th − pad_top, 2·tw − pad_left), zero outside the image. Range [P, C].
__kernel void winograd_input_transform(const int batch, const int channels, const int height, const int width,
                                       const int pad_top, const int pad_left, const int tiles_h, const int tiles_w,
                                       __global const float* x, __global float* v, const int v_offset) {
    const int p = get_global_id(0), c = get_global_id(1);
    const int tiles = batch * tiles_h * tiles_w;
    if (p >= tiles || c >= channels) return;
    const int n = p / (tiles_h * tiles_w), t = p - n * (tiles_h * tiles_w);
    const int th = t / tiles_w, tw = t - (t / tiles_w) * tiles_w;
    const int h0 = 2 * th - pad_top, w0 = 2 * tw - pad_left;
    __global const float* plane = x + ((size_t)n * channels + c) * height * width;
    float d[4][4];
    for (int r = 0; r < 4; r++)
        for (int s = 0; s < 4; s++) {
            const int h = h0 + r, ww = w0 + s;
            d[r][s] = (h >= 0 && h < height && ww >= 0 && ww < width) ? plane[h * width + ww] : 0.0f;
        }
    float t4[4][4];  // Bᵀ d
    for (int s = 0; s < 4; s++) {
        t4[0][s] = d[0][s] - d[2][s];
        t4[1][s] = d[1][s] + d[2][s];
        t4[2][s] = d[2][s] - d[1][s];
        t4[3][s] = d[1][s] - d[3][s];
    }
    const size_t plane_size = (size_t)channels * tiles;
    __global float* out = v + v_offset + (size_t)c * tiles + p;
    for (int r = 0; r < 4; r++) {
        out[(r * 4 + 0) * plane_size] = t4[r][0] - t4[r][2];
        out[(r * 4 + 1) * plane_size] = t4[r][1] + t4[r][2];
        out[(r * 4 + 2) * plane_size] = t4[r][2] - t4[r][1];
        out[(r * 4 + 3) * plane_size] = t4[r][1] - t4[r][3];
    }
}

// y tile = Aᵀ M A with Aᵀ = [1 1 1 0; 0 1 −1 −1], plus bias, then the activation (code −1:
// none). Range [P, K].
__kernel void winograd_output_transform(const int batch, const int channels, const int out_h, const int out_w,
                                        const int tiles_h, const int tiles_w, __global const float* m, const int m_offset,
                                        __global const float* bias, const int has_bias, const int act,
                                        const float alpha, __global float* y) {
    const int p = get_global_id(0), k = get_global_id(1);
    const int tiles = batch * tiles_h * tiles_w;
    if (p >= tiles || k >= channels) return;
    const size_t plane_size = (size_t)channels * tiles;
    __global const float* in = m + m_offset + (size_t)k * tiles + p;
    float q[4][4];
    for (int xi = 0; xi < 16; xi++) q[xi / 4][xi % 4] = in[xi * plane_size];
    float t2[2][4];  // Aᵀ M
    for (int s = 0; s < 4; s++) {
        t2[0][s] = q[0][s] + q[1][s] + q[2][s];
        t2[1][s] = q[1][s] - q[2][s] - q[3][s];
    }
    const float b = has_bias ? bias[k] : 0.0f;
    const int n = p / (tiles_h * tiles_w), t = p - n * (tiles_h * tiles_w);
    const int th = t / tiles_w, tw = t - (t / tiles_w) * tiles_w;
    __global float* plane = y + ((size_t)n * channels + k) * out_h * out_w;
    for (int i = 0; i < 2; i++) {
        const float r0 = t2[i][0] + t2[i][1] + t2[i][2], r1 = t2[i][1] - t2[i][2] - t2[i][3];
        const int oh = 2 * th + i, ow = 2 * tw;
        if (oh >= out_h) continue;
        plane[oh * out_w + ow] = activate(act, alpha, r0 + b);
        if (ow + 1 < out_w) plane[oh * out_w + ow + 1] = activate(act, alpha, r1 + b);
    }
}
