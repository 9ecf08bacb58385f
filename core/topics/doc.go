// Package topics validates MQTT topic names and filters, routes a PUBLISH topic to
// the subscriptions whose filters match it, keeps shared-subscription groups, and
// indexes retained messages by topic.
//
// Matching follows MQTT 5.0 section 4.7 (the same rules as 3.1.1 section 4.7):
// '+' matches exactly one level (an empty level included), '#' matches the parent
// level and any number of levels below it, and a filter whose first character is a
// wildcard never matches a topic that starts with '$' [MQTT-4.7.2-1]. Topics and
// filters are compared byte for byte, without normalisation [MQTT-4.7.3-4].
//
// Both indexes are tries keyed by topic level. A topic is split by walking its
// indexes, so matching a topic allocates nothing. Each index has one sync.RWMutex:
// matching holds it for reading, changes hold it for writing, and nodes left empty
// by a change are pruned at once. Shared-subscription groups keep their members in a
// copy-on-write slice, so Group.Pick takes no lock at all.
//
// Validation is separate from indexing: the broker validates a filter with
// ValidateFilter (and splits a shared one with ParseShared) before it subscribes,
// and a topic name with ValidateName before it routes or retains it.
package topics
