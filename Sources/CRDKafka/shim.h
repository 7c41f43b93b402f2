// librdkafka from Debian's librdkafka-dev (2.0.2): the client API and the
// mock cluster that backs the project's dev broker.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
