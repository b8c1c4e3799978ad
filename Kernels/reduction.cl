// reduction.cl: (kernels to be written)
