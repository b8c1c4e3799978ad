// optimizer.cl: (kernels to be written)
