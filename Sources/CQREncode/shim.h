// libqrencode from Debian's libqrencode-dev: the master encodes a link's short URL as a QR code.
#include <qrencode.h>
