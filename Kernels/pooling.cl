// pooling.cl: (kernels to be written)
