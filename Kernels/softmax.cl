// softmax.cl: (kernels to be written)
