// loss.cl: (kernels to be written)
