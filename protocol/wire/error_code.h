// Every Kafka error code, as the protocol defines them. Handlers answer with
// these; they never throw.
#pragma once

#include <cstdint>

namespace kgw {

enum class ErrorCode : std::int16_t {
  kUnknownServerError = -1,         // An unexpected error on the broker
  kNone = 0,                        // No error
  kOffsetOutOfRange = 1,            // The requested offset is outside the partition's log
  kCorruptMessage = 2,              // A record batch failed its CRC or is malformed
  kUnknownTopicOrPartition = 3,     // The topic or partition does not exist
  kInvalidFetchSize = 4,            // The requested fetch size is invalid
  kLeaderNotAvailable = 5,          // No leader for the partition yet (for example, just created)
  kNotLeaderOrFollower = 6,         // This broker does not lead (or follow) the partition
  kRequestTimedOut = 7,             // The request timed out
  kBrokerNotAvailable = 8,          // The broker is not available
  kReplicaNotAvailable = 9,         // The replica is not available
  kMessageTooLarge = 10,            // A batch is larger than max.message.bytes
  kStaleControllerEpoch = 11,       // The controller moved on
  kOffsetMetadataTooLarge = 12,     // Commit metadata is over offset.metadata.max.bytes
  kNetworkException = 13,           // The server disconnected before a response arrived
  kCoordinatorLoadInProgress = 14,  // The coordinator is still loading its state
  kCoordinatorNotAvailable = 15,    // The coordinator is not available
  kNotCoordinator = 16,         // This broker is not the coordinator for the group or transaction
  kInvalidTopicException = 17,  // The topic name is invalid or the topic is internal
  kRecordListTooLarge = 18,     // The request's records exceed the allowed size
  kNotEnoughReplicas = 19,      // Fewer in-sync replicas than min.insync.replicas
  kNotEnoughReplicasAfterAppend = 20,  // Written, but to fewer in-sync replicas than required
  kInvalidRequiredAcks = 21,           // acks is not -1, 0 or 1
  kIllegalGeneration = 22,             // The group generation does not match
  kInconsistentGroupProtocol = 23,     // The member's protocols do not match the group's
  kInvalidGroupId = 24,                // The group id is empty or invalid
  kUnknownMemberId = 25,               // The member id is not in the group
  kInvalidSessionTimeout = 26,         // The session timeout is outside the broker's range
  kRebalanceInProgress = 27,           // The group is rebalancing; rejoin
  kInvalidCommitOffsetSize = 28,       // The committed offset metadata is too large
  kTopicAuthorizationFailed = 29,      // Not authorized to access the topic
  kGroupAuthorizationFailed = 30,      // Not authorized to access the group
  kClusterAuthorizationFailed = 31,    // Not authorized for cluster operations
  kInvalidTimestamp = 32,              // A timestamp is out of the acceptable range
  kUnsupportedSaslMechanism = 33,      // The broker does not support the SASL mechanism
  kIllegalSaslState = 34,              // The request is not valid in the SASL state
  kUnsupportedVersion = 35,            // The broker does not support this request version
  kTopicAlreadyExists = 36,            // The topic already exists
  kInvalidPartitions = 37,             // The number of partitions is invalid
  kInvalidReplicationFactor = 38,      // The replication factor is invalid
  kInvalidReplicaAssignment = 39,      // The replica assignment is invalid
  kInvalidConfig = 40,                 // A configuration name or value is invalid
  kNotController = 41,                 // This broker is not the controller
  kInvalidRequest = 42,                // The request is malformed or inconsistent
  kUnsupportedForMessageFormat = 43,   // The message format version does not support the request
  kPolicyViolation = 44,               // The request breaks a configured policy
  kOutOfOrderSequenceNumber = 45,      // A producer sequence number is out of order
  kDuplicateSequenceNumber = 46,       // A producer sequence number is a duplicate
  kInvalidProducerEpoch = 47,          // The producer epoch is stale
  kInvalidTxnState = 48,               // The transaction state does not allow the operation
  kInvalidProducerIdMapping = 49,      // The producer id does not match the transactional id
  kInvalidTransactionTimeout = 50,     // The transaction timeout exceeds the maximum
  kConcurrentTransactions = 51,        // Another transaction operation is in progress
  kTransactionCoordinatorFenced = 52,  // The transaction coordinator was fenced
  kTransactionalIdAuthorizationFailed = 53,  // Not authorized for the transactional id
  kSecurityDisabled = 54,                    // Security features are disabled
  kOperationNotAttempted = 55,         // The operation was not attempted because of another error
  kKafkaStorageError = 56,             // A disk error on the broker
  kLogDirNotFound = 57,                // The log directory does not exist
  kSaslAuthenticationFailed = 58,      // SASL authentication failed
  kUnknownProducerId = 59,             // The broker has no state for the producer id
  kReassignmentInProgress = 60,        // A partition reassignment is in progress
  kDelegationTokenAuthDisabled = 61,   // Delegation tokens are disabled
  kDelegationTokenNotFound = 62,       // The delegation token does not exist
  kDelegationTokenOwnerMismatch = 63,  // The principal does not own the token
  kDelegationTokenRequestNotAllowed = 64,    // Token requests are not allowed on this channel
  kDelegationTokenAuthorizationFailed = 65,  // Not authorized for the token
  kDelegationTokenExpired = 66,              // The delegation token expired
  kInvalidPrincipalType = 67,                // The principal type is not supported
  kNonEmptyGroup = 68,                       // The group is not empty
  kGroupIdNotFound = 69,                     // The group does not exist
  kFetchSessionIdNotFound = 70,              // The fetch session does not exist
  kInvalidFetchSessionEpoch = 71,            // The fetch session epoch is wrong
  kListenerNotFound = 72,                    // No listener matches the request
  kTopicDeletionDisabled = 73,               // Topic deletion is disabled
  kFencedLeaderEpoch = 74,                // The request's leader epoch is older than the broker's
  kUnknownLeaderEpoch = 75,               // The request's leader epoch is newer than the broker's
  kUnsupportedCompressionType = 76,       // The consumer cannot read this compression type
  kStaleBrokerEpoch = 77,                 // The broker epoch is stale
  kOffsetNotAvailable = 78,               // The leader high watermark has not caught up
  kMemberIdRequired = 79,                 // Rejoin with the member id given in the response
  kPreferredLeaderNotAvailable = 80,      // The preferred leader is not available
  kGroupMaxSizeReached = 81,              // The group has reached its maximum size
  kFencedInstanceId = 82,                 // A newer member with the same group.instance.id joined
  kEligibleLeadersNotAvailable = 83,      // No eligible leader for the partition
  kElectionNotNeeded = 84,                // The leader election is not needed
  kNoReassignmentInProgress = 85,         // No reassignment is in progress
  kGroupSubscribedToTopic = 86,           // The group still subscribes to the topic
  kInvalidRecord = 87,                    // A record failed validation
  kUnstableOffsetCommit = 88,             // Pending transactional offsets; retry
  kThrottlingQuotaExceeded = 89,          // A throttling quota was exceeded
  kProducerFenced = 90,                   // A newer producer with the same transactional id exists
  kResourceNotFound = 91,                 // The resource does not exist
  kDuplicateResource = 92,                // The request names a resource twice
  kUnacceptableCredential = 93,           // The credential does not meet requirements
  kInconsistentVoterSet = 94,             // The voter set is inconsistent
  kInvalidUpdateVersion = 95,             // The update version is invalid
  kFeatureUpdateFailed = 96,              // The feature update failed
  kPrincipalDeserializationFailure = 97,  // The principal could not be deserialized
  kSnapshotNotFound = 98,                 // The snapshot does not exist
  kPositionOutOfRange = 99,               // The position is out of range of the snapshot
  kUnknownTopicId = 100,                  // The topic id does not exist
  kDuplicateBrokerRegistration = 101,     // The broker registered twice
  kBrokerIdNotRegistered = 102,           // The broker id is not registered
  kInconsistentTopicId = 103,             // The topic id does not match the topic name
  kInconsistentClusterId = 104,           // The cluster id does not match
  kTransactionalIdNotFound = 105,         // The transactional id does not exist
  kFetchSessionTopicIdError = 106,        // The fetch session mixes topic ids and names
  kIneligibleReplica = 107,               // The replica is not eligible
  kNewLeaderElected = 108,                // A new leader was elected
  kOffsetMovedToTieredStorage = 109,      // The offset moved to tiered storage
  kFencedMemberEpoch = 110,               // The member epoch is fenced
  kUnreleasedInstanceId = 111,            // The instance id is still in use
  kUnsupportedAssignor = 112,             // The assignor is not supported
  kStaleMemberEpoch = 113,                // The member epoch is stale
  kMismatchedEndpointType = 114,          // The endpoint type does not match
  kUnsupportedEndpointType = 115,         // The endpoint type is not supported
  kUnknownControllerId = 116,             // The controller id is unknown
  kUnknownSubscriptionId = 117,           // The telemetry subscription id is unknown
  kTelemetryTooLarge = 118,               // The telemetry payload is too large
  kInvalidRegistration = 119,             // The registration is invalid
  kTransactionAbortable = 120,            // The transaction must be aborted
};

inline std::int16_t code(ErrorCode e) {
  return static_cast<std::int16_t>(e);
}
// The protocol name, e.g. "UNKNOWN_TOPIC_OR_PARTITION".
const char* error_name(ErrorCode e);

}  // namespace kgw
