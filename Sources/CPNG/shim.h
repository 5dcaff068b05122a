// libpng, used through its "simplified" API (png_image_*), which reports failures through
// return codes and png_image.message instead of longjmp-ing across Swift frames.
#include <png.h>
