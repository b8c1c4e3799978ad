// activation.cl: (kernels to be written)
