// batchnorm.cl: (kernels to be written)
