/// How tools recognise the dev broker: it alone has this topic, so `topics apply` knows not to
/// ask it for an admin API that librdkafka's mock cluster lacks.
public enum DevBrokerMarker {
    /// The marker topic's name.
    public static let topic = "_kafka-dev-broker"
}
