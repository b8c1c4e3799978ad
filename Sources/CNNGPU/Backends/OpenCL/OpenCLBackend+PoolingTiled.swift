/// Average pooling backward through `Kernels/pooling_tiled.cl` where the windows tile the
/// input (DenseNet's 2×2/2 transitions): each input pixel gets its one window's share.
extension OpenCLBackend {
    /// Output rows narrower than this keep pooling.cl's gather (measured only at 28 wide).
    static let tiledPoolingMinimumWidth = 16
    /// The widest output row taken: its work-group must fit every OpenCL device.
    static let tiledPoolingMaximumWidth = 256

    /// Whether pooling_tiled.cl takes `d`'s average backward: window = stride, no padding, and
    /// the input exactly the outputs times the window (no pixel left out, none in two windows).
    func tiledPoolingApplies(_ d: Pool2DDescriptor) -> Bool {
        d.mode != .max && d.strideH == d.windowH && d.strideW == d.windowW && d.padding == Padding2D(0)
            && d.inH == d.outH * d.windowH && d.inW == d.outW * d.windowW
            && (Self.tiledPoolingMinimumWidth...Self.tiledPoolingMaximumWidth).contains(d.outW)
    }

    /// One work-item per output: groups of POOL_TILED_ROWS rows by one row's outputs (rounded
    /// up to POOL_TILED_ALIGN), over (row, rows, planes).
    func launchTiledAverageBackward(_ d: Pool2DDescriptor, dy: any DeviceBuffer, dx: any DeviceBuffer) throws {
        let family = MemoryBoundTunables.poolingTiled
        var values = memoryBound.values(family)
        let align = values["POOL_TILED_ALIGN"]!
        let group = (d.outW + align - 1) / align * align
        // Fewer rows where a wide row's group would pass 256 work-items (every device's limit
        // here); the -D value follows, so source and launch agree.
        let fitting = family.allowed["POOL_TILED_ROWS"]!.filter { $0 <= values["POOL_TILED_ROWS"]! && $0 * group <= 256 }
        values["POOL_TILED_ROWS"] = fitting.max() ?? 1
        let rows = values["POOL_TILED_ROWS"]!
        let options = family.options(values) + " " + poolSpecialization(d)
        let paddedRows = (d.outH + rows - 1) / rows * rows
        let size = KernelLaunch(options: options, global: [group, paddedRows, d.batch * d.channels], local: [group, rows, 1])
        try launch("pooling_tiled", "avg_pool_tiled_backward", size, [.buffer(dy), .buffer(dx)])
    }
}
