package churn

// knownDeviation reports whether the reference broker named by
// -churn.reference is known not to hold property; its violations are then
// logged, not failed, so the suite still runs against it for the rest.
//
// Mosquitto 2.0 (issue 16's measurements): it delivers QoS 2 messages twice to
// a subscriber reset after PUBREC, loses a shared-subscription member's
// unacknowledged messages when its session ends, and delivers overlapping
// 3.1.1 subscriptions once per subscription [MQTT-3.3.5-1].
func knownDeviation(property string) bool {
	switch *reference {
	case "":
		return false
	case "mosquitto":
		switch property {
		case propExactlyOnce, propSharedLost, propOverlap:
			return true
		}
		return false
	default:
		panic("unknown -churn.reference " + *reference)
	}
}
