// librdkafka from Debian's librdkafka-dev (2.0.2): the client API and the
// mock cluster that backs the project's dev broker.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

// Macros with casts that Swift does not import, as typed constants.
static const int32_t shortener_partition_unassigned = RD_KAFKA_PARTITION_UA;
static const int64_t shortener_offset_beginning = RD_KAFKA_OFFSET_BEGINNING;
static const int64_t shortener_offset_end = RD_KAFKA_OFFSET_END;

// rd_kafka_producev is variadic, which Swift cannot call: this fixed-arity wrapper produces one
// message to the topic handle `rkt` (made once with rd_kafka_topic_new: a topic named on every
// message is looked up under the client's write lock) and `partition` (RD_KAFKA_PARTITION_UA:
// the partitioner decides), with an optional key, copied payload, optional headers (owned by
// librdkafka on success, by the caller on failure), a timestamp (milliseconds since 1970; 0:
// now) and the delivery report's opaque.
static inline rd_kafka_resp_err_t shortener_produce(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t partition,
                                                    const void *key, size_t key_len, const void *value,
                                                    size_t value_len, rd_kafka_headers_t *headers,
                                                    int64_t timestamp, void *opaque) {
    if (headers) {
        return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                                 RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_HEADERS(headers),
                                 RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_TIMESTAMP(timestamp),
                             RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}
