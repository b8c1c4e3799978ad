/// "Same" stride-1 pooling through `Kernels/pooling_same.cl`: column sweeps, one work-group
/// per strip of a plane's rows, one work-item per column. Average pooling forward (either
/// padding mode), its backward pass where padding counts, and max pooling backward; max
/// pooling forward and the rest stay in pooling.cl.
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
        let family = MemoryBoundTunables.poolingSame
        let values = memoryBound.values(family)
        let (align, rows) = (values["POOL_SAME_ALIGN"]!, min(values["POOL_SAME_ROWS"]!, d.inH))
        let group = (d.inW + align - 1) / align * align, strips = (d.inH + rows - 1) / rows
        let planes = d.batch * d.channels
        let options = family.options(values) + " " + poolSpecialization(d)
        let arguments: [KernelArgument] = [.int(planes)] + args
        for (name, count) in [(kernel, planes - 2), (kernel + "_edge", min(planes, 2))] where count > 0 {
            let size = KernelLaunch(options: options, global: [group, strips, count], local: [group, 1, 1])
            try launch("pooling_same", name, size, arguments)
        }
    }
}
