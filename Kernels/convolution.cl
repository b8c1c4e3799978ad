// convolution.cl: (kernels to be written)
