/// "Same" stride-1 pooling through `Kernels/pooling_same.cl`: column sweeps, one work-group
/// per strip of a plane's rows. Average pooling forward (either padding mode) and its backward
/// pass where padding counts, one work-item per column; max pooling forward and backward, one
/// work-item per POOL_SAME_VEC columns. The rest stays in pooling.cl.
extension OpenCLBackend {
    /// Rows narrower than this keep pooling.cl's kernels: a group of a few work-items per row
    /// costs PoCL more in group start-up than it computes (measured only at 28 wide).
    static let samePoolingMinimumWidth = 16
    /// The widest row taken: its work-group (the row's columns) must fit every OpenCL device.
    static let samePoolingMaximumWidth = 256

    /// Whether pooling_same.cl takes `d`: stride 1 and a window of 2·pad + 1 with equal padding
    /// on both sides along each axis (the output plane is the input plane's shape), on rows
    /// whose columns make a work-group.
    func samePoolingApplies(_ d: Pool2DDescriptor) -> Bool {
        d.strideH == 1 && d.strideW == 1 && d.padding.top == d.padding.bottom && d.padding.left == d.padding.right
            && d.windowH == 2 * d.padding.top + 1 && d.windowW == 2 * d.padding.left + 1
            && (Self.samePoolingMinimumWidth...Self.samePoolingMaximumWidth).contains(d.inW)
    }

    /// Enqueues `kernel` (planes 1 … N − 2, no clamps) and `kernel`_edge (planes 0 and N − 1,
    /// clamped columns) over (row group, strips, planes); `args` follow the planes count.
    func launchSamePooling(_ kernel: String, _ d: Pool2DDescriptor, _ args: [KernelArgument]) throws {
        let values = memoryBound.values(MemoryBoundTunables.poolingSame)
        let (align, rows) = (values["POOL_SAME_ALIGN"]!, min(values["POOL_SAME_ROWS"]!, d.inH))
        let group = (d.inW + align - 1) / align * align, strips = (d.inH + rows - 1) / rows
        let planes = d.batch * d.channels
        for (name, count) in [(kernel, planes - 2), (kernel + "_edge", min(planes, 2))] where count > 0 {
            try enqueueSamePooling(name, d, global: [group, strips, count], group: group, [.int(planes)] + args)
        }
    }

    /// Enqueues a max kernel of pooling_same.cl over (the row's strips of POOL_SAME_VEC columns
    /// rounded up to POOL_SAME_ALIGN, strips of rows, planes): every plane alike, no `_edge`
    /// kernels (no load leaves its row).
    func launchSameMaxPooling(_ kernel: String, _ d: Pool2DDescriptor, _ args: [KernelArgument]) throws {
        let values = memoryBound.values(MemoryBoundTunables.poolingSame)
        let (align, rows, vector) = (values["POOL_SAME_ALIGN"]!, min(values["POOL_SAME_ROWS"]!, d.inH),
                                     values["POOL_SAME_VEC"]!)
        let columnStrips = (d.inW + vector - 1) / vector, group = (columnStrips + align - 1) / align * align
        try enqueueSamePooling(kernel, d, global: [group, (d.inH + rows - 1) / rows, d.batch * d.channels],
                               group: group, args)
    }

    private func enqueueSamePooling(_ name: String, _ d: Pool2DDescriptor, global: [Int], group: Int,
                                    _ arguments: [KernelArgument]) throws {
        let family = MemoryBoundTunables.poolingSame
        let options = memoryBound.resolved(family).options + " " + poolSpecialization(d)
        let size = KernelLaunch(options: options, global: global, local: [group, 1, 1])
        try launch("pooling_same", name, size, arguments)
    }
}
