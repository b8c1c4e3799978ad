// dropout.cl: (kernels to be written)
