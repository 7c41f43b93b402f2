// libGeoIP (legacy .dat databases) from Debian's libgeoip-dev, with the country databases of
// geoip-database: the replica's click analytics look up the country of a client address.
#include <GeoIP.h>
