// librdkafka from Debian's librdkafka-dev (2.0.2): the client API and the
// mock cluster that backs the project's dev broker.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

// rd_kafka_producev is variadic, which Swift cannot call: this fixed-arity wrapper produces one
// message by topic name, with an optional key, copied payload, optional headers (owned by
// librdkafka on success, by the caller on failure) and the delivery report's opaque.
static inline rd_kafka_resp_err_t shortener_produce(rd_kafka_t *rk, const char *topic, const void *key,
                                                    size_t key_len, const void *value, size_t value_len,
                                                    rd_kafka_headers_t *headers, void *opaque) {
    if (headers) {
        return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                                 RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}
