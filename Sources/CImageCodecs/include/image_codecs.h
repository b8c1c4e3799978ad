/*
 * image_codecs: JPEG (libjpeg-turbo's TurboJPEG API) and PNG (libpng) to and from memory.
 *
 * Why C: libpng reports errors by longjmp, which must never unwind Swift frames, so the
 * setjmp that catches them has to live in C. Every function here returns 0 on success and
 * otherwise writes a NUL-terminated reason into `error` (at most `error_size` bytes) and
 * leaves nothing allocated.
 *
 * Decoders always produce 8-bit RGB, 3 bytes per pixel, rows packed, as torchvision's
 * `Image.convert("RGB")` does: grayscale is replicated into R, G and B, palettes expanded,
 * alpha dropped (not composited), 16-bit samples scaled to 8 bits (v * 255 / 65535, rounded),
 * CMYK JPEGs converted by Pillow's formula (no colour management).
 * Free the pixels with cnn_image_free.
 *
 * Encoders exist for tests and tools that need real files (8-bit JPEG; 8- or 16-bit PNG);
 * free their output with cnn_image_free.
 */
#ifndef CNN_IMAGE_CODECS_H
#define CNN_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned char *pixels; /* width * height * 3 bytes, RGB, row after row */
    int width;
    int height;
} cnn_rgb_image;

/* Both decoders refuse an image of more than `max_pixels` pixels (width × height) once its
 * header is read, before any pixel memory is allocated: a few kilobytes of compressed data can
 * claim a 34000×34000 image (a "decompression bomb"). A header that leaves the size unset or
 * zero is an error too. */

/* A JPEG warning that the data ended early ("Premature end of JPEG file") is an error: the
 * bottom of the image would be grey filler. Other libjpeg warnings (e.g. extraneous bytes
 * before a marker, common in real photo collections) still yield the whole image and pass. */
int cnn_decode_jpeg(const unsigned char *data, size_t size, uint64_t max_pixels, cnn_rgb_image *out, char *error,
                    size_t error_size);

int cnn_decode_png(const unsigned char *data, size_t size, uint64_t max_pixels, cnn_rgb_image *out, char *error,
                   size_t error_size);

void cnn_image_free(void *pixels);

/* `pixels`: width * height * channels bytes; channels 1 (gray), 3 (RGB) or 4 (CMYK, stored as
 * given in a YCCK JPEG with an Adobe marker, so decoders read it as inverted CMYK); quality 1...100. */
int cnn_encode_jpeg(const unsigned char *pixels, int width, int height, int channels, int quality,
                    unsigned char **out, size_t *out_size, char *error, size_t error_size);

/* `pixels`: width * height * channels samples, each a byte (bit_depth 8) or a native-endian
 * uint16_t (bit_depth 16); channels 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
int cnn_encode_png(const void *pixels, int width, int height, int channels, int bit_depth,
                   unsigned char **out, size_t *out_size, char *error, size_t error_size);

#endif
