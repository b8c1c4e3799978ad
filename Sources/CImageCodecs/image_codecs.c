#include "image_codecs.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

static int fail(char *error, size_t error_size, const char *message) {
    if (error_size > 0) snprintf(error, error_size, "%s", message);
    return -1;
}

void cnn_image_free(void *pixels) { free(pixels); }

/* Checks a size read from a header against the caller's pixel budget. */
static int check_size(long long width, long long height, uint64_t max_pixels, char *error, size_t error_size) {
    if (width <= 0 || height <= 0) {
        char message[128];
        snprintf(message, sizeof message, "the header gives no valid size (%lld×%lld)", width, height);
        return fail(error, error_size, message);
    }
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        char message[256];
        snprintf(message, sizeof message,
                 "the image is %lld×%lld = %llu pixels, more than the limit of %llu (a decompression bomb?)",
                 width, height, (unsigned long long)width * (unsigned long long)height, (unsigned long long)max_pixels);
        return fail(error, error_size, message);
    }
    return 0;
}

/* ---- JPEG ---- */

/* Whether the JPEG has an Adobe APP14 segment before its first scan: Photoshop, which wrote
 * nearly every CMYK JPEG in circulation, stores CMYK inverted and marks it so. */
static int has_adobe_marker(const unsigned char *data, size_t size) {
    size_t at = 2;
    while (at + 4 <= size && data[at] == 0xFF) {
        unsigned char marker = data[at + 1];
        size_t length = ((size_t)data[at + 2] << 8) | data[at + 3];
        if (marker == 0xDA) break;  /* start of scan: no more header segments */
        if (marker == 0xEE && length >= 7 && at + 9 <= size && memcmp(data + at + 4, "Adobe", 5) == 0) return 1;
        at += 2 + length;
    }
    return 0;
}

/* In place, 4 bytes per pixel to 3, as Pillow converts CMYK to RGB (which torchvision's
 * loader uses): R = (255 - K) - round(C · (255 - K) / 255), likewise G from M and B from Y,
 * after undoing Adobe's inversion. */
static void cmyk_to_rgb(unsigned char *pixels, size_t count, int inverted) {
    for (size_t i = 0; i < count; i++) {
        int ink[4];
        for (int c = 0; c < 4; c++) ink[c] = inverted ? 255 - pixels[i * 4 + c] : pixels[i * 4 + c];
        int white = 255 - ink[3];
        for (int c = 0; c < 3; c++) {
            int product = ink[c] * white + 128;
            pixels[i * 3 + c] = (unsigned char)(white - (((product >> 8) + product) >> 8));
        }
    }
}

int cnn_decode_jpeg(const unsigned char *data, size_t size, uint64_t max_pixels, cnn_rgb_image *out, char *error,
                    size_t error_size) {
    out->pixels = NULL; out->width = 0; out->height = 0;
    tjhandle handle = tjInitDecompress();
    if (!handle) return fail(error, error_size, tjGetErrorStr2(NULL));
    /* A truncated header can return success without setting these: start from "no size". */
    int width = 0, height = 0, subsampling = -1, colorspace = -1;
    if (tjDecompressHeader3(handle, data, (unsigned long)size, &width, &height, &subsampling, &colorspace) != 0) {
        fail(error, error_size, tjGetErrorStr2(handle));
        tjDestroy(handle);
        return -1;
    }
    if (check_size(width, height, max_pixels, error, error_size) != 0) {
        tjDestroy(handle);
        return -1;
    }
    int cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    unsigned char *pixels = malloc((size_t)width * (size_t)height * (cmyk ? 4 : 3));
    if (!pixels) {
        tjDestroy(handle);
        return fail(error, error_size, "out of memory for the decoded image");
    }
    if (tjDecompress2(handle, data, (unsigned long)size, pixels, width, 0, height, cmyk ? TJPF_CMYK : TJPF_RGB, 0) != 0) {
        const char *message = tjGetErrorStr2(handle);
        int fatal = tjGetErrorCode(handle) == TJERR_FATAL || strstr(message, "Premature end") != NULL;
        if (fatal) {
            fail(error, error_size, message);
            free(pixels);
            tjDestroy(handle);
            return -1;
        }
    }
    tjDestroy(handle);
    if (cmyk) cmyk_to_rgb(pixels, (size_t)width * (size_t)height, has_adobe_marker(data, size));
    out->pixels = pixels; out->width = width; out->height = height;
    return 0;
}

int cnn_encode_jpeg(const unsigned char *pixels, int width, int height, int channels, int quality,
                    unsigned char **out, size_t *out_size, char *error, size_t error_size) {
    *out = NULL; *out_size = 0;
    if (channels != 1 && channels != 3 && channels != 4) return fail(error, error_size, "JPEG needs 1, 3 or 4 channels");
    tjhandle handle = tjInitCompress();
    if (!handle) return fail(error, error_size, tjGetErrorStr2(NULL));
    unsigned char *jpeg = NULL;
    unsigned long jpeg_size = 0;
    int format = channels == 1 ? TJPF_GRAY : channels == 3 ? TJPF_RGB : TJPF_CMYK;
    int sampling = channels == 1 ? TJSAMP_GRAY : channels == 3 ? TJSAMP_420 : TJSAMP_444;
    int status = tjCompress2(handle, pixels, width, 0, height, format, &jpeg, &jpeg_size, sampling, quality, 0);
    if (status != 0) {
        fail(error, error_size, tjGetErrorStr2(handle));
        tjFree(jpeg);
        tjDestroy(handle);
        return -1;
    }
    tjDestroy(handle);
    /* Copied so that every buffer from this file is released the same way (cnn_image_free). */
    *out = malloc(jpeg_size);
    if (!*out) { tjFree(jpeg); return fail(error, error_size, "out of memory for the JPEG"); }
    memcpy(*out, jpeg, jpeg_size);
    *out_size = jpeg_size;
    tjFree(jpeg);
    return 0;
}

/* ---- PNG ---- */

typedef struct {
    jmp_buf jump;
    char *error;
    size_t error_size;
    const unsigned char *data;  /* reading */
    size_t size, position;
    unsigned char *buffer;      /* writing */
    size_t length, capacity;
} png_context;

static void png_fail(png_structp png, png_const_charp message) {
    png_context *context = png_get_error_ptr(png);
    fail(context->error, context->error_size, message);
    longjmp(context->jump, 1);
}

/* Warnings (e.g. an unknown ancillary chunk) leave the pixels intact. */
static void png_ignore_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void png_read_memory(png_structp png, png_bytep out, png_size_t count) {
    png_context *context = png_get_io_ptr(png);
    if (count > context->size - context->position) png_error(png, "the PNG data ends early (truncated file)");
    memcpy(out, context->data + context->position, count);
    context->position += count;
}

int cnn_decode_png(const unsigned char *data, size_t size, uint64_t max_pixels, cnn_rgb_image *out, char *error,
                   size_t error_size) {
    out->pixels = NULL; out->width = 0; out->height = 0;
    png_context context = {.error = error, .error_size = error_size, .data = data, .size = size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, png_fail, png_ignore_warning);
    if (!png) return fail(error, error_size, "libpng could not start");
    png_infop info = png_create_info_struct(png);
    /* Written after setjmp and read after a longjmp, hence volatile. */
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(context.jump)) {
        if (!info) fail(error, error_size, "libpng could not start");
        free(rows);
        free(pixels);
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        return -1;
    }
    png_set_read_fn(png, &context, png_read_memory);
    png_read_info(png, info);
    if (check_size(png_get_image_width(png, info), png_get_image_height(png, info), max_pixels, error, error_size) != 0)
        longjmp(context.jump, 1);
    png_set_expand(png);          /* palette → RGB, gray < 8 bits → 8 bits, tRNS → alpha */
    png_set_scale_16(png);        /* 16 → 8 bits, rounded (not truncated) */
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3) png_error(png, "unexpected PNG layout after conversion to RGB");
    pixels = malloc((size_t)width * height * 3);
    rows = malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) png_error(png, "out of memory for the decoded image");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * width * 3;
    png_read_image(png, rows);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->pixels = pixels; out->width = (int)width; out->height = (int)height;
    return 0;
}

static void png_write_memory(png_structp png, png_bytep data, png_size_t count) {
    png_context *context = png_get_io_ptr(png);
    if (context->length + count > context->capacity) {
        size_t capacity = (context->length + count) * 2;
        unsigned char *grown = realloc(context->buffer, capacity);
        if (!grown) png_error(png, "out of memory for the PNG");
        context->buffer = grown;
        context->capacity = capacity;
    }
    memcpy(context->buffer + context->length, data, count);
    context->length += count;
}

static void png_flush_memory(png_structp png) { (void)png; }

int cnn_encode_png(const void *pixels, int width, int height, int channels, int bit_depth,
                   unsigned char **out, size_t *out_size, char *error, size_t error_size) {
    *out = NULL; *out_size = 0;
    static const int color_types[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGBA};
    if (channels < 1 || channels > 4) return fail(error, error_size, "PNG needs 1 to 4 channels");
    if (bit_depth != 8 && bit_depth != 16) return fail(error, error_size, "PNG bit depth must be 8 or 16");
    png_context context = {.error = error, .error_size = error_size};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, png_fail, png_ignore_warning);
    if (!png) return fail(error, error_size, "libpng could not start");
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(context.jump)) {
        if (!info) fail(error, error_size, "libpng could not start");
        free(rows);
        free(context.buffer);
        png_destroy_write_struct(&png, info ? &info : NULL);
        return -1;
    }
    png_set_write_fn(png, &context, png_write_memory, png_flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, bit_depth, color_types[channels - 1],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const uint16_t probe = 1;
    if (bit_depth == 16 && *(const unsigned char *)&probe == 1) png_set_swap(png);  /* PNG stores big-endian */
    size_t row_bytes = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) png_error(png, "out of memory");
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)pixels + (size_t)y * row_bytes;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    *out = context.buffer;
    *out_size = context.length;
    return 0;
}
