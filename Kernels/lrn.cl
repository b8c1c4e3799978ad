// lrn.cl: (kernels to be written)
