//! The one classification of librdkafka errors: which failures a retry may fix, which are
//! refused credentials or permissions, and which name a topic or partition Kafka does not know.
//!
//! Produce (per-record outcomes), the consumer error mapping, the metadata mapping and the v3
//! administration mapping ([`classify_admin`]) all ask this module, so the same Kafka failure gets the same answer everywhere. What each class
//! becomes for a client (50003, 50002, 404, a per-record code) is decided in `error.rs` and in
//! `produce/`, not here; this module knows nothing about HTTP.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What kind of failure a librdkafka error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaErrorClass {
    /// Kafka rejected the client's credentials.
    Authentication,
    /// The client may not do this to the topic, group or cluster.
    Authorization,
    /// Kafka does not know the topic or partition. Java counts it among the retriable
    /// failures (the metadata may be stale); callers that named the partition themselves
    /// answer it as the client's mistake instead.
    UnknownTopicOrPartition,
    /// A retry may succeed: timeouts, leader moves, coordinator changes, transport failures
    /// (Java's `RetriableException` family).
    Retriable,
    /// A retry will not help (record too large, invalid record, a local error, ...).
    Other,
}

impl KafkaErrorClass {
    /// Whether a retry of the same call may succeed.
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            KafkaErrorClass::Retriable | KafkaErrorClass::UnknownTopicOrPartition
        )
    }
}

/// Classifies a Kafka error by its librdkafka error code; an error without one (a local
/// client error such as a bad configuration) is [`KafkaErrorClass::Other`].
pub fn classify(err: &KafkaError) -> KafkaErrorClass {
    err.rdkafka_error_code()
        .map_or(KafkaErrorClass::Other, classify_code)
}

/// Classifies one librdkafka error code.
pub fn classify_code(code: RDKafkaErrorCode) -> KafkaErrorClass {
    use RDKafkaErrorCode::*;
    match code {
        SaslAuthenticationFailed | Authentication => KafkaErrorClass::Authentication,
        TopicAuthorizationFailed
        | GroupAuthorizationFailed
        | ClusterAuthorizationFailed
        | TransactionalIdAuthorizationFailed
        | DelegationTokenAuthorizationFailed => KafkaErrorClass::Authorization,
        UnknownTopicOrPartition | UnknownTopic | UnknownPartition => {
            KafkaErrorClass::UnknownTopicOrPartition
        }
        // Local (librdkafka) conditions that pass: timeouts, a full queue, lost connections.
        MessageTimedOut
        | OperationTimedOut
        | TimedOutQueue
        | QueueFull
        | BrokerTransportFailure
        | AllBrokersDown
        | WaitingForCoordinator
        // Broker answers of Java's `RetriableException` family.
        | RequestTimedOut
        | NetworkException
        | BrokerNotAvailable
        | LeaderNotAvailable
        | NotLeaderForPartition
        | PreferredLeaderNotAvailable
        | FencedLeaderEpoch
        | UnknownLeaderEpoch
        | OffsetNotAvailable
        | NotEnoughReplicas
        | NotEnoughReplicasAfterAppend
        | KafkaStorageError
        | CoordinatorLoadInProgress
        | CoordinatorNotAvailable
        | NotCoordinator
        | RebalanceInProgress
        | ThrottlingQuotaExceeded => KafkaErrorClass::Retriable,
        _ => KafkaErrorClass::Other,
    }
}

/// What kind of failure an error code of a v3 administrative call is: Kafka's
/// `KafkaExceptionMapper` classes, which the v3 API answers with distinct codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminErrorClass {
    /// Kafka refused the request itself (an existing topic, a bad replication factor,
    /// partition count or config, a policy, an unsupported request): the client's mistake.
    Refused,
    /// Kafka does not know the topic or partition.
    UnknownTopicOrPartition,
    Authentication,
    Authorization,
    /// No broker could be reached to serve the call.
    BrokerNotAvailable,
    /// Kafka throttled the call (a controller mutation quota).
    Throttled,
    /// A retry may succeed.
    Retriable,
    /// Anything else.
    Other,
}

/// Classifies the error code of an administrative call; codes outside the admin-specific
/// classes fall back to [`classify_code`].
pub fn classify_admin(code: RDKafkaErrorCode) -> AdminErrorClass {
    use RDKafkaErrorCode::*;
    match code {
        TopicAlreadyExists
        | InvalidReplicationFactor
        | InvalidPartitions
        | InvalidConfig
        | PolicyViolation
        | InvalidRequest
        | UnsupportedVersion
        | SecurityDisabled
        | TopicDeletionDisabled
        | InvalidTopic
        // Kafka's UNKNOWN_SERVER_ERROR, and librdkafka refusing an argument locally.
        | Unknown
        | InvalidArgument => AdminErrorClass::Refused,
        UnknownTopicId => AdminErrorClass::UnknownTopicOrPartition,
        BrokerNotAvailable => AdminErrorClass::BrokerNotAvailable,
        ThrottlingQuotaExceeded => AdminErrorClass::Throttled,
        other => match classify_code(other) {
            KafkaErrorClass::Authentication => AdminErrorClass::Authentication,
            KafkaErrorClass::Authorization => AdminErrorClass::Authorization,
            KafkaErrorClass::UnknownTopicOrPartition => AdminErrorClass::UnknownTopicOrPartition,
            KafkaErrorClass::Retriable => AdminErrorClass::Retriable,
            KafkaErrorClass::Other => AdminErrorClass::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_are_classified_like_java_exceptions() {
        use KafkaErrorClass::*;
        let rows = [
            (RDKafkaErrorCode::MessageTimedOut, Retriable),
            (RDKafkaErrorCode::RequestTimedOut, Retriable),
            (RDKafkaErrorCode::OperationTimedOut, Retriable),
            (RDKafkaErrorCode::QueueFull, Retriable),
            (RDKafkaErrorCode::AllBrokersDown, Retriable),
            (RDKafkaErrorCode::BrokerTransportFailure, Retriable),
            (RDKafkaErrorCode::NotEnoughReplicas, Retriable),
            (RDKafkaErrorCode::NotLeaderForPartition, Retriable),
            (RDKafkaErrorCode::LeaderNotAvailable, Retriable),
            (RDKafkaErrorCode::RebalanceInProgress, Retriable),
            (RDKafkaErrorCode::WaitingForCoordinator, Retriable),
            (RDKafkaErrorCode::CoordinatorLoadInProgress, Retriable),
            (RDKafkaErrorCode::NotCoordinator, Retriable),
            (RDKafkaErrorCode::ThrottlingQuotaExceeded, Retriable),
            (
                RDKafkaErrorCode::UnknownTopicOrPartition,
                UnknownTopicOrPartition,
            ),
            (RDKafkaErrorCode::UnknownPartition, UnknownTopicOrPartition),
            (RDKafkaErrorCode::TopicAuthorizationFailed, Authorization),
            (RDKafkaErrorCode::GroupAuthorizationFailed, Authorization),
            (RDKafkaErrorCode::ClusterAuthorizationFailed, Authorization),
            (RDKafkaErrorCode::SaslAuthenticationFailed, Authentication),
            (RDKafkaErrorCode::Authentication, Authentication),
            (RDKafkaErrorCode::MessageSizeTooLarge, Other),
            (RDKafkaErrorCode::InvalidRecord, Other),
            (RDKafkaErrorCode::OffsetOutOfRange, Other),
            (RDKafkaErrorCode::InvalidConfig, Other),
        ];
        for (code, class) in rows {
            assert_eq!(classify_code(code), class, "{code:?}");
            assert_eq!(
                classify(&KafkaError::MessageProduction(code)),
                class,
                "{code:?}"
            );
        }
    }

    #[test]
    fn admin_errors_are_classified_like_kafkas_exception_mapper() {
        use AdminErrorClass::*;
        let rows = [
            (RDKafkaErrorCode::TopicAlreadyExists, Refused),
            (RDKafkaErrorCode::InvalidReplicationFactor, Refused),
            (RDKafkaErrorCode::InvalidPartitions, Refused),
            (RDKafkaErrorCode::InvalidConfig, Refused),
            (RDKafkaErrorCode::PolicyViolation, Refused),
            (RDKafkaErrorCode::InvalidRequest, Refused),
            (RDKafkaErrorCode::UnsupportedVersion, Refused),
            (RDKafkaErrorCode::SecurityDisabled, Refused),
            (RDKafkaErrorCode::TopicDeletionDisabled, Refused),
            (RDKafkaErrorCode::InvalidTopic, Refused),
            (RDKafkaErrorCode::Unknown, Refused),
            (
                RDKafkaErrorCode::UnknownTopicOrPartition,
                UnknownTopicOrPartition,
            ),
            (RDKafkaErrorCode::UnknownTopicId, UnknownTopicOrPartition),
            (RDKafkaErrorCode::BrokerNotAvailable, BrokerNotAvailable),
            (RDKafkaErrorCode::ThrottlingQuotaExceeded, Throttled),
            (RDKafkaErrorCode::SaslAuthenticationFailed, Authentication),
            (RDKafkaErrorCode::TopicAuthorizationFailed, Authorization),
            (RDKafkaErrorCode::ClusterAuthorizationFailed, Authorization),
            (RDKafkaErrorCode::RequestTimedOut, Retriable),
            (RDKafkaErrorCode::OperationTimedOut, Retriable),
            (RDKafkaErrorCode::MessageSizeTooLarge, Other),
            (RDKafkaErrorCode::InvalidReplicaAssignment, Other),
        ];
        for (code, class) in rows {
            assert_eq!(classify_admin(code), class, "{code:?}");
        }
    }

    #[test]
    fn unknown_topics_are_retriable_and_refusals_are_not() {
        assert!(KafkaErrorClass::Retriable.is_retriable());
        assert!(KafkaErrorClass::UnknownTopicOrPartition.is_retriable());
        assert!(!KafkaErrorClass::Authorization.is_retriable());
        assert!(!KafkaErrorClass::Authentication.is_retriable());
        assert!(!KafkaErrorClass::Other.is_retriable());
    }

    #[test]
    fn an_error_without_a_librdkafka_code_is_not_retriable() {
        assert_eq!(classify(&KafkaError::Canceled), KafkaErrorClass::Other);
        assert_eq!(
            classify(&KafkaError::MetadataFetch(
                RDKafkaErrorCode::OperationTimedOut
            )),
            KafkaErrorClass::Retriable
        );
    }
}
