import CCLBlast
import COpenCL

/// GEMM through CLBlast, row-major, on the backend's queue (no host synchronization).
extension OpenCLBackend: GEMMOps {
    public func encodeGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef) throws {
        var q: cl_command_queue? = queue
        let status = CLBlastSgemm(CLBlastLayoutRowMajor, clblastTranspose(transA), clblastTranspose(transB),
                                  m, n, k, alpha, mem(a.buffer), a.offset, a.ld, mem(b.buffer), b.offset, b.ld,
                                  beta, mem(c.buffer), c.offset, c.ld, &q, nil)
        try clblastCheck(status, "SGEMM")
    }

    public func encodeGEMMStridedBatched(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                         a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef, batchCount: Int) throws {
        if batchCount == 1 {
            return try gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c)
        }
        var q: cl_command_queue? = queue
        let status = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, clblastTranspose(transA), clblastTranspose(transB), m, n, k, alpha,
            mem(a.buffer), a.offset, a.ld, a.stride, mem(b.buffer), b.offset, b.ld, b.stride,
            beta, mem(c.buffer), c.offset, c.ld, c.stride, batchCount, &q, nil)
        try clblastCheck(status, "SGEMM (strided batched)")
    }
}

private func clblastTranspose(_ t: Bool) -> CLBlastTranspose { t ? CLBlastTransposeYes : CLBlastTransposeNo }

func clblastCheck(_ status: CLBlastStatusCode, _ call: String) throws {
    guard status == CLBlastSuccess else { throw CNNError.clblast(call: call, status: status.rawValue) }
}
