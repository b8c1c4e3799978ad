// elementwise.cl: (kernels to be written)
