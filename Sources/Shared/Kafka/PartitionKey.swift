/// One partition of one topic.
struct PartitionKey: Hashable, Sendable {
    let topic: String
    let partition: Int32
}
