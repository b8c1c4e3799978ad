/// GEMM through oneDNN's SGEMM (`sgemm` in OneDNN.swift), run single-threaded inside our own
/// workers.
///
/// Why not the library's threads: OpenBLAS's spun in `sched_yield` between calls, fighting the
/// backend's own workers (im2col, pooling, element-wise loops) for the same few cores; on
/// LeNet-sized layers a fifth of the CPU time went to that spinning. So the GEMM runs on one
/// thread per call and the backend splits each GEMM's output into one slice per worker
/// (columns, or rows when the matrix is tall), or hands whole matrices of a batch to them.
extension CPUBackend: GEMMOps {
    public func encodeGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                           a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef) throws {
        parallelGEMM(transA, transB, m, n, k, alpha, ptr(a.buffer) + a.offset, a.ld, ptr(b.buffer) + b.offset, b.ld,
                     beta, ptr(c.buffer) + c.offset, c.ld)
    }

    public func encodeGEMMStridedBatched(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                         a: MatrixRef, b: MatrixRef, beta: Float, c: MatrixRef, batchCount: Int) throws {
        let (pa, pb, pc) = (ptr(a.buffer) + a.offset, ptr(b.buffer) + b.offset, ptr(c.buffer) + c.offset)
        if batchCount >= threads {
            parallelFor(batchCount, grain: 1) { range in
                for i in range {
                    sgemm(transA, transB, m, n, k, alpha, pa + i * a.stride, a.ld, pb + i * b.stride, b.ld,
                          beta, pc + i * c.stride, c.ld)
                }
            }
        } else {
            for i in 0..<batchCount {
                parallelGEMM(transA, transB, m, n, k, alpha, pa + i * a.stride, a.ld, pb + i * b.stride, b.ld,
                             beta, pc + i * c.stride, c.ld)
            }
        }
    }

    /// One GEMM split across the workers by output columns (or rows when there are few columns).
    func parallelGEMM(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        // Below 2^20 multiply-adds (~2 MFLOP, 5-10 µs on one core) a split costs more than it
        // saves: waking a worker is a futex syscall on this thread, ~5 µs on the 2-vCPU VMs
        // (perf: `sem_post` from `dispatch_apply_f` was 5% of a LeNet epoch's CPU), and the
        // worker often starts after this thread has done most of the work. LeNet's dense2
        // (64×120×84, 0.65M) on one thread: its backward passes 12.0 → 7.6-8.2 µs (medians of
        // 60 profiled steps), its forward 17.2 → 15.4 µs (NOTES-lenet.md, branch lenet6).
        let work = m * n * k
        let slices = min(threads, work < 1 << 20 ? 1 : max(m, n) / 16)
        guard slices > 1 else { return sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) }
        if n >= m {
            let step = (n / slices + 15) / 16 * 16
            parallelFor(slices, grain: 1) { range in
                for s in range {
                    let lo = s * step, hi = min(n, lo + step)
                    guard lo < hi else { continue }
                    // Columns lo..<hi of op(B): columns of B, or rows of B when transposed.
                    sgemm(transA, transB, m, hi - lo, k, alpha, a, lda, b + (transB ? lo * ldb : lo), ldb,
                          beta, c + lo, ldc)
                }
            }
        } else {
            let step = (m + slices - 1) / slices
            parallelFor(slices, grain: 1) { range in
                for s in range {
                    let lo = s * step, hi = min(m, lo + step)
                    guard lo < hi else { continue }
                    // Rows lo..<hi of op(A): rows of A, or columns of A when transposed.
                    sgemm(transA, transB, hi - lo, n, k, alpha, a + (transA ? lo : lo * lda), lda, b, ldb,
                          beta, c + lo * ldc, ldc)
                }
            }
        }
    }
}
