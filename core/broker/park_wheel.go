package broker

// keepWheel holds the keep-alive deadlines of parked connections, by the
// second, for the poller. A time.Timer per parked connection cost about
// 140 bytes (the runtime timer, the method value, the timer heap's slot); here
// a connection costs its slot entry (8 bytes) and three small fields of its
// own (docs/decisions/0037-idle-connection-memory.md). A keep-alive of 1.5 x
// the client's seconds is coarse enough for one-second ticks: the close comes
// within a second after the deadline [MQTT-3.1.2-22].
//
// Seconds count from the poller's start on the monotonic clock, so a change
// of the wall clock neither fires nor delays anyone. A deadline further away
// than the wheel's span waits in its slot for its round: each tick looks
// only at its own slot and compares each entry's second.
//
// Not safe for concurrent use: the poller's mutex guards it.
type keepWheel struct {
	slots [wheelSlots][]*client
	n     int    // connections in the wheel
	tick  uint32 // the last second whose slot was expired
}

// wheelSlots is the wheel's span in seconds. Default keep-alives (60 s,
// x 1.5) fit in one round; a longer one is looked at once per round.
const wheelSlots = 256

// add schedules c to expire at second due; c must not be in the wheel. A due
// second already expired becomes the next one.
func (w *keepWheel) add(c *client, due uint32) {
	due = max(due, w.tick+1)
	s := due % wheelSlots
	c.keepDue, c.keepSlot, c.keepPos = due, int32(s)+1, int32(len(w.slots[s]))
	w.slots[s] = append(w.slots[s], c)
	w.n++
}

// remove takes c out of the wheel, if it is there.
func (w *keepWheel) remove(c *client) {
	if c.keepSlot == 0 {
		return
	}
	s := c.keepSlot - 1
	slot := w.slots[s]
	last := len(slot) - 1
	moved := slot[last]
	slot[c.keepPos] = moved
	moved.keepPos = c.keepPos
	slot[last] = nil
	w.slots[s] = slot[:last]
	c.keepSlot = 0
	w.n--
	if len(w.slots[s]) == 0 && cap(w.slots[s]) > 64 {
		w.slots[s] = nil // a burst of parked connections gave its memory back
	}
}

// expire removes the connections due at or before now and appends them to into.
func (w *keepWheel) expire(now uint32, into []*client) []*client {
	if now <= w.tick {
		return into
	}
	from := w.tick + 1
	if now-w.tick > wheelSlots {
		from = now - wheelSlots + 1 // one round visits every slot
	}
	w.tick = now
	for t := from; ; t++ {
		slot := &w.slots[t%wheelSlots]
		for i := 0; i < len(*slot); {
			c := (*slot)[i]
			if c.keepDue > now {
				i++
				continue
			}
			w.remove(c) // moves the slot's last entry to i
			into = append(into, c)
		}
		if t == now {
			return into
		}
	}
}
