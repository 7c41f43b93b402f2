// hiredis from Debian's libhiredis-dev (0.14): its reply reader and its command formatter,
// which the Redis module uses over its own SwiftNIO connections (no hiredis I/O).
#include <hiredis/hiredis.h>
