// libpng from Debian's libpng-dev: the master writes QR codes as PNG with its simplified API
// (png_image_write_to_memory), which reports errors in the image struct instead of longjmp.
#include <png.h>
