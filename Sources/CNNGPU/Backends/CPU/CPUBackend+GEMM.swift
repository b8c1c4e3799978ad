import CBLAS

/// GEMM through OpenBLAS (row-major CBLAS).
extension CPUBackend: GEMMOps {
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef) throws {
        try validate.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, b: b, c: c)
        sgemm(transA, transB, m, n, k, alpha, ptr(a.buffer) + a.offset, a.ld, ptr(b.buffer) + b.offset, b.ld,
              beta, ptr(c.buffer) + c.offset, c.ld)
    }

    public func gemmStridedBatched(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                   a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef, batchCount: Int) throws {
        try validate.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, b: b, c: c, batch: batchCount)
        for i in 0..<batchCount {
            sgemm(transA, transB, m, n, k, alpha, ptr(a.buffer) + a.offset + i * a.stride, a.ld,
                  ptr(b.buffer) + b.offset + i * b.stride, b.ld, beta, ptr(c.buffer) + c.offset + i * c.stride, c.ld)
        }
    }
}

/// Row-major SGEMM on raw pointers, for ops (convolution) that build GEMMs from their own
/// workspaces.
func sgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
           _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
           _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
