import COpenCL

extension OpenCLBackend {
    /// Enqueues a tunable kernel with the `-D` options and exact work-group geometry that its
    /// `TunableKernel` table computed (global sizes are already whole work-groups). The
    /// program is built once per distinct option string.
    func launch(_ program: String, _ kernel: String, _ l: KernelLaunch, _ args: [KernelArgument]) throws {
        guard l.global.allSatisfy({ $0 > 0 }) else { return }
        try programs.withKernel(program, kernel, options: l.options) { k in
            for (i, arg) in args.enumerated() {
                try clCheck(arg.set(on: k, index: cl_uint(i)), "clSetKernelArg(\(kernel), \(i))")
            }
            var global = l.global, local = l.local
            try clCheck(clEnqueueNDRangeKernel(queue, k, cl_uint(global.count), nil, &global, &local, 0, nil, nil),
                        "clEnqueueNDRangeKernel(\(kernel) \(l.options))")
        }
    }
}
