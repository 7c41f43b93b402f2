// hiredis from Debian's libhiredis-dev (0.14): the synchronous client API,
// driven from a dedicated thread per connection by the Swift wrapper.
#include <hiredis/hiredis.h>
